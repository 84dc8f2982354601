package env

import "testing"

func TestProxyMetrics(t *testing.T) {
	page := []byte(`# HELP kubeproxy_sync_proxy_rules_last_timestamp_seconds [ALPHA] The last time proxy rules were successfully synced
# TYPE kubeproxy_sync_proxy_rules_last_timestamp_seconds gauge
kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family="IPv4"} 1.7645e+09
kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family="IPv6"} 1.7644e+09
kubeproxy_sync_proxy_rules_endpoint_changes_pending{ip_family="IPv4"} 2
kubeproxy_sync_proxy_rules_endpoint_changes_pending{ip_family="IPv6"} 1
kubeproxy_sync_proxy_rules_service_changes_pending 0
`)
	m := proxyMetrics(page)
	if got := m["kubeproxy_sync_proxy_rules_last_timestamp_seconds"]; got != 1.7645e+09 {
		t.Errorf("last sync %v, want the latest family's", got)
	}
	if got := m["kubeproxy_sync_proxy_rules_endpoint_changes_pending"]; got != 3 {
		t.Errorf("pending %v, want both families summed", got)
	}
	if _, ok := m["kubeproxy_sync_proxy_rules_service_changes_pending"]; !ok {
		t.Error("an unlabelled sample is missing")
	}
}

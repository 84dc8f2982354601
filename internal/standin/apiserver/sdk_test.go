package apiserver

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// sdkClient calls the stand-in as kfp.Client 2.17.0 does
// (sdk/python/kfp/client/client.py): the same queries, the same filter JSON
// (json.dumps output), the same decisions on the replies.
type sdkClient struct {
	t         *testing.T
	h         http.Handler
	namespace string
	header    []string
}

type sdkExperiment struct {
	ID   string `json:"experiment_id"`
	Name string `json:"display_name"`
}

type sdkList struct {
	Experiments   []sdkExperiment `json:"experiments"`
	TotalSize     int             `json:"total_size"`
	NextPageToken string          `json:"next_page_token"`
}

func (c sdkClient) call(method, target, body string) (int, []byte) {
	c.t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(c.header); i += 2 {
		req.Header.Set(c.header[i], c.header[i+1])
	}
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}

// listExperiments is ExperimentServiceApi.list_experiments: empty
// parameters are sent as empty strings, as the generated client sends them.
func (c sdkClient) listExperiments(pageToken string, pageSize int, filter string) sdkList {
	c.t.Helper()
	q := url.Values{"page_token": {pageToken}, "page_size": {fmt.Sprint(pageSize)}, "sort_by": {""}}
	if filter != "" {
		q.Set("filter", filter)
	}
	if c.namespace != "" {
		q.Set("namespace", c.namespace)
	}
	status, body := c.call(http.MethodGet, "/apis/v2beta1/experiments?"+q.Encode(), "")
	if status != http.StatusOK {
		c.t.Fatalf("list_experiments: HTTP %d %s", status, body)
	}
	var l sdkList
	if err := json.Unmarshal(body, &l); err != nil {
		c.t.Fatalf("list_experiments: %v: %s", err, body)
	}
	return l
}

var errNoExperiment = errors.New("no experiment is found")

// getExperimentByName is get_experiment(experiment_name=…).
func (c sdkClient) getExperimentByName(name string) (sdkExperiment, error) {
	filter := fmt.Sprintf(`{"predicates": [{"operation": 1, "key": "display_name", "stringValue": %q}]}`, name)
	l := c.listExperiments("", 10, filter)
	switch {
	case len(l.Experiments) == 0:
		return sdkExperiment{}, fmt.Errorf("%w with name %s", errNoExperiment, name)
	case len(l.Experiments) > 1:
		return sdkExperiment{}, fmt.Errorf("Multiple experiments is found with name %s", name)
	}
	return l.Experiments[0], nil
}

// createExperiment is create_experiment(name): look the name up, create
// only when it is not found.
func (c sdkClient) createExperiment(name string) sdkExperiment {
	c.t.Helper()
	e, err := c.getExperimentByName(name)
	if err == nil {
		return e
	}
	if !errors.Is(err, errNoExperiment) {
		c.t.Fatalf("create_experiment(%q): %v", name, err)
	}
	body, _ := json.Marshal(map[string]string{"display_name": name, "namespace": c.namespace})
	status, reply := c.call(http.MethodPost, "/apis/v2beta1/experiments", string(body))
	if status != http.StatusOK || json.Unmarshal(reply, &e) != nil {
		c.t.Fatalf("create_experiment(%q): HTTP %d %s", name, status, reply)
	}
	return e
}

func TestSDKExperimentFlow(t *testing.T) {
	modes := []struct {
		name      string
		server    *Server
		namespace string
		header    []string
		preloaded int // experiments there before the test
	}{
		{"standalone", New(Config{}, nil), "", nil, 1},
		{"multi-user", New(recorded2Config, recorded2Kube()), "kubeflow-user-example-com",
			[]string{"Authorization", "Bearer " + editorToken}, 0},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			c := sdkClient{t: t, h: m.server, namespace: m.namespace, header: m.header}

			first := c.createExperiment("x")
			if first.Name != "x" || first.ID == "" {
				t.Fatalf("create_experiment('x') returned %+v, not a new experiment x", first)
			}
			again := c.createExperiment("x")
			if again != first {
				t.Fatalf("create_experiment('x') twice: %+v then %+v, want the same experiment", first, again)
			}
			c.createExperiment("y")
			got, err := c.getExperimentByName("x")
			if err != nil || got != first {
				t.Fatalf("get_experiment(experiment_name='x') with x and y present: %+v, %v", got, err)
			}
			if _, err := c.getExperimentByName("z"); !errors.Is(err, errNoExperiment) {
				t.Fatalf("get_experiment(experiment_name='z'): %v, want none found", err)
			}
			for i := range 3 {
				c.createExperiment(fmt.Sprintf("e%d", i))
			}

			want := m.preloaded + 5
			seen := map[string]bool{}
			token, pages := "", 0
			for {
				l := c.listExperiments(token, 1, "")
				pages++
				if len(l.Experiments) != 1 || l.TotalSize != want {
					t.Fatalf("page %d: %d items, total_size %d; want 1 of %d", pages, len(l.Experiments), l.TotalSize, want)
				}
				if seen[l.Experiments[0].ID] {
					t.Fatalf("page %d repeats %+v", pages, l.Experiments[0])
				}
				seen[l.Experiments[0].ID] = true
				if token = l.NextPageToken; token == "" {
					break
				}
				if pages > want {
					t.Fatalf("more than %d pages of one item for %d experiments", pages, want)
				}
			}
			if len(seen) != want {
				t.Fatalf("paged through %d experiments, want %d", len(seen), want)
			}
		})
	}
}

// Recorded in prose: 26 experiments, no page_size (or 0) → 20 and a token.
func TestDefaultPageSize(t *testing.T) {
	s := New(Config{}, nil)
	for i := range 25 {
		if got := do(t, s, "POST", "/apis/v2beta1/experiments", fmt.Sprintf(`{"display_name":"e%d"}`, i)); got.status != 200 {
			t.Fatalf("create: %d %s", got.status, got.body)
		}
	}
	for _, target := range []string{"/apis/v2beta1/experiments", "/apis/v2beta1/experiments?page_size=0"} {
		var l sdkList
		got := do(t, s, "GET", target, "")
		if err := json.Unmarshal([]byte(got.body), &l); err != nil || len(l.Experiments) != 20 || l.TotalSize != 26 || l.NextPageToken == "" {
			t.Fatalf("%s: %d items of %d, token %q", target, len(l.Experiments), l.TotalSize, l.NextPageToken)
		}
	}
}

// A token is opaque to clients but must not be forgeable into another
// listing; a token given with a different sort_by is refused as KFP does.
func TestPageTokenTampering(t *testing.T) {
	s := New(Config{}, nil)
	for i := range 3 {
		do(t, s, "POST", "/apis/v2beta1/experiments", fmt.Sprintf(`{"display_name":"e%d"}`, i))
	}
	var l sdkList
	_ = json.Unmarshal([]byte(do(t, s, "GET", "/apis/v2beta1/experiments?page_size=1", "").body), &l)
	if l.NextPageToken == "" {
		t.Fatal("no next_page_token after page 1 of 4")
	}
	raw, err := base64.StdEncoding.DecodeString(l.NextPageToken)
	if err != nil || !strings.Contains(string(raw), `"ModelName":"experiments"`) {
		t.Fatalf("token is not KFP's base64 JSON: %s (%v)", raw, err)
	}
	forge := func(from, to string) string {
		return base64.StdEncoding.EncodeToString([]byte(strings.Replace(string(raw), from, to, 1)))
	}
	cases := []struct {
		name, query, message string
	}{
		{"not base64", "page_token=garbage", "Failed to create list options: InvalidInputError: Invalid page token: illegal base64 data at input byte 4"},
		{"not JSON", "page_token=" + url.QueryEscape(base64.StdEncoding.EncodeToString([]byte("{nope"))), "Failed to create list options: InvalidInputError: Invalid page token: invalid character 'n' looking for beginning of object key string"},
		{"another model", "page_token=" + url.QueryEscape(forge(`"ModelName":"experiments"`, `"ModelName":"pipelines"`)), "Failed to create list options: InvalidInputError: Invalid page token: the token is not one this server issued for experiments"},
		{"an unknown column", "page_token=" + url.QueryEscape(forge(`"SortByFieldName":"CreatedAtInSec"`, `"SortByFieldName":"Password"`)), "Failed to create list options: InvalidInputError: Invalid page token: the token is not one this server issued for experiments"},
		{"another sort", "page_token=" + url.QueryEscape(l.NextPageToken) + "&sort_by=name", "Failed to create list options: Invalid input error: page token does not match the supplied sort by and/or filtering criteria. Either specify the same criteria or leave the latter empty if page token is specified."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := do(t, s, "GET", "/apis/v2beta1/experiments?"+c.query, "")
			if got.status != http.StatusBadRequest || comparable(t, got.body)["message"] != c.message {
				t.Fatalf("%d %s", got.status, got.body)
			}
		})
	}
}

func TestFilterOperations(t *testing.T) {
	// One second apart: Default at 1000, then alpha, Beta, gamma.
	tick := int64(999)
	s := New(Config{}, nil, WithClock(func() time.Time { tick++; return time.Unix(tick, 0) }))
	for _, n := range []string{"alpha", "Beta", "gamma"} {
		do(t, s, "POST", "/apis/v2beta1/experiments", fmt.Sprintf(`{"display_name":%q}`, n))
	}
	cases := []struct {
		filter string
		want   int
	}{
		{`{"predicates":[{"key":"name","operation":"IN","string_values":{"values":["alpha","gamma","nope"]}}]}`, 2},
		{`{"predicates":[{"key":"display_name","operation":"EQUALS","stringValue":"BETA"}]}`, 1}, // LOWER() on both sides
		{`{"predicates":[{"key":"display_name","operation":"IS_SUBSTRING","stringValue":"MM"}]}`, 1},
		{`{"predicates":[{"key":"created_at","operation":"GREATER_THAN","timestamp_value":"1970-01-01T00:16:40Z"}]}`, 3},
		{`{"predicates":[{"key":"created_at","operation":"LESS_THAN","timestamp_value":"1970-01-01T00:16:41Z"}]}`, 1}, // Default only
		{`{"predicates":[{"key":"name","operation":"NOT_EQUALS","stringValue":"alpha"},{"key":"name","operation":"NOT_EQUALS","stringValue":"Default"}]}`, 2},
	}
	for _, c := range cases {
		var l sdkList
		got := do(t, s, "GET", "/apis/v2beta1/experiments?filter="+url.QueryEscape(c.filter), "")
		if err := json.Unmarshal([]byte(got.body), &l); err != nil || got.status != 200 || len(l.Experiments) != c.want {
			t.Errorf("%s: %d %s, want %d experiments", c.filter, got.status, got.body, c.want)
		}
	}
	got := do(t, s, "GET", "/apis/v2beta1/experiments?filter="+url.QueryEscape(`{"predicates":[{"key":"name","operation":"IN","stringValue":"x"}]}`), "")
	if got.status != 400 || !strings.Contains(got.body, "cannot use IN operator with scalar type string") {
		t.Errorf("IN with a scalar: %d %s", got.status, got.body)
	}
}

// Success replies carry grpc-gateway's metadata header; errors do not.
func TestGatewayHeaders(t *testing.T) {
	s := New(Config{}, nil)
	ok := httptest.NewRecorder()
	s.ServeHTTP(ok, httptest.NewRequest("GET", "/apis/v2beta1/experiments", nil))
	bad := httptest.NewRecorder()
	s.ServeHTTP(bad, httptest.NewRequest("GET", "/apis/v2beta1/experiments?sort_by=bogus", nil))
	if ok.Header().Get("Grpc-Metadata-Content-Type") != "application/grpc" || bad.Header().Get("Grpc-Metadata-Content-Type") != "" {
		t.Fatalf("success %v, error %v", ok.Header(), bad.Header())
	}
}

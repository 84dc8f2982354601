package explain

import (
	"regexp"
	"strings"
	"sync"
)

// What a pasted text says about the call, used to fill the confirm
// command's placeholders. Only spellings that name the value unambiguously
// are read: urllib3's connection pool (the host the SDK dialled), the
// kfp.Client(host=…) call, KFP's ResourceAttributes (the namespace checked)
// and its "User '…' is not authorized" (the subject).
type factPatterns struct {
	pool, client, against, namespace, nsArg, subject *regexp.Regexp
}

var factRes = sync.OnceValue(func() *factPatterns {
	return &factPatterns{
		pool:      regexp.MustCompile(`HTTP(S?)ConnectionPool\(host='([^']+)', port=(\d+)\)`),
		client:    regexp.MustCompile(`Client\([^)]*\bhost\s*=\s*['"](https?://[^'"\s]+)['"]`),
		against:   regexp.MustCompile(`for GET against:? (https?://[^\s'"]+)`),
		namespace: regexp.MustCompile(`ResourceAttributes\{Namespace:([a-z0-9]([-a-z0-9]*[a-z0-9])?),`),
		nsArg:     regexp.MustCompile(`\bnamespace\s*=\s*['"]([a-z0-9]([-a-z0-9]*[a-z0-9])?)['"]`),
		subject:   regexp.MustCompile(`User '([^']+)' is not authorized`),
	}
})

func facts(norm string) map[string]string {
	r := factRes()
	rePool, reClient, reAgainst, reNamespace, reNSArg, reSubject := r.pool, r.client, r.against, r.namespace, r.nsArg, r.subject
	f := map[string]string{}
	switch {
	case reClient.MatchString(norm):
		f["host"] = strings.TrimRight(reClient.FindStringSubmatch(norm)[1], "/")
	case reAgainst.MatchString(norm):
		f["host"] = strings.TrimSuffix(strings.TrimRight(reAgainst.FindStringSubmatch(norm)[1], "/"), "/pipeline")
	case rePool.MatchString(norm):
		m := rePool.FindStringSubmatch(norm)
		scheme := "http"
		if m[1] == "S" {
			scheme = "https"
		}
		f["host"] = scheme + "://" + m[2] + ":" + m[3]
	}
	if m := reNamespace.FindStringSubmatch(norm); m != nil {
		f["namespace"] = m[1]
	} else if m := reNSArg.FindStringSubmatch(norm); m != nil {
		f["namespace"] = m[1]
	}
	if m := reSubject.FindStringSubmatch(norm); m != nil {
		f["subject"] = m[1]
	}
	if len(f) == 0 {
		return nil
	}
	return f
}

// fill puts what the text named into a command's placeholders; the rest
// stay for the user.
func fill(cmd string, f map[string]string) string {
	if h := f["host"]; h != "" {
		cmd = strings.ReplaceAll(cmd, "<HOST>", h)
		cmd = strings.ReplaceAll(cmd, "<GATEWAY>", h)
	}
	if ns := f["namespace"]; ns != "" {
		cmd = strings.ReplaceAll(cmd, "<NAMESPACE>", ns)
	}
	if sub := f["subject"]; sub != "" {
		cmd = strings.ReplaceAll(cmd, "<SUBJECT>", sub)
	}
	return cmd
}

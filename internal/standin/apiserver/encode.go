package apiserver

import (
	"bytes"
	"encoding/json"
	"net/http"
)

// writeJSON writes v as KFP's server writes its replies: `&`, `<` and `>`
// raw, as protojson and KFP's hand-written healthz leave them (Go's
// json.Marshal would write \u0026, which clients print verbatim).
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := encodeJSON(v, false)
	if err != nil {
		// Only our own types reach here; a failure is a bug worth a 500.
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeOK is a grpc-gateway success reply, which also carries the gRPC
// content type as metadata (its errors and healthz do not).
func writeOK(w http.ResponseWriter, v any) {
	w.Header().Set("Grpc-Metadata-Content-Type", "application/grpc")
	writeJSON(w, http.StatusOK, v)
}

// encodeJSON renders v on one line; escapeHTML chooses encoding/json's
// default escaping, which KFP's upload endpoint keeps for its errors.
func encodeJSON(v any, escapeHTML bool) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(escapeHTML)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// empty is the reply of deletes, archives and unarchives: protojson of an
// empty message.
type empty struct{}

// newListReply is every List response: the items under their field, the
// total and the next page's token, each left out when empty, so an empty
// list is the literal {}.
func newListReply(field string, page []listable, total int, next string, render func(listable) any) map[string]any {
	out := map[string]any{}
	if len(page) > 0 {
		items := make([]any, len(page))
		for i, it := range page {
			items[i] = render(it)
		}
		out[field] = items
	}
	if total > 0 {
		out["total_size"] = total
	}
	if next != "" {
		out["next_page_token"] = next
	}
	return out
}

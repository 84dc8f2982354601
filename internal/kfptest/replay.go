package kfptest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"time"

	"sigs.k8s.io/yaml"
)

// Replay sends every exchange of Recorded2 to stand-ins it starts, in the
// recorded order, and compares each reply with the recorded one as parsed
// JSON: status, content type, every field (so an extra or a missing field
// fails), only ids, page tokens, Go stack traces and the rendering of
// k8s.io/api's ResourceAttributes allowed to differ.
//
// The stand-in's clock and ids are driven so that it can reproduce the
// recorded order: KFP sorts by created_at (whole seconds), then by id, and
// the recorded ids were random. Each create gets the created_at its
// recorded reply shows and an id that sorts where the recorded one did.
type Replay struct {
	// Start serves a fresh stand-in and returns its base URL; it must make
	// the stand-in take created_at from now and ids from newID.
	Start func(multiUser bool, now func() time.Time, newID func() string) string
	// Client sends the requests; nil is a client with a 20 s timeout.
	Client *http.Client
	// Bearer stands for "<token>": a token of ServiceAccount
	// kubeflow-user-example-com/default-editor for KFP's audience.
	Bearer string
	// Skip names exchanges (by Key) this caller cannot replay, and why.
	Skip map[string]string
	// Before runs before an exchange (by Key), e.g. to change the cluster.
	Before map[string]func(context.Context) error
}

// Outcome is one exchange's result: Err nil when the reply matched,
// Skipped the reason when it was not sent.
type Outcome struct {
	Exchange
	Err     error
	Skipped string
}

// Exchanges the recordings describe in prose only, or whose request is not
// in the recording; the stand-in's unit tests cover them directly.
var proseOnly = map[string]string{
	"6/single-user: default page size, 26 experiments stored": "described in prose; TestDefaultPageSize covers it",
}

// recordedOrder gives each labelled object an id that sorts where the
// recorded one did among the objects created in the same second (the
// recorded lists show that order: exp-c & co, exp-b, exp-a; hello-world.yaml
// before pipe-b; exp-a, exp-ns, exp-h, exp-b and pipe-ns before pipe-a in
// single-user mode). Labels not listed sort after these.
var recordedOrder = map[string][]string{
	"multi":  {"exp:exp-c & co", "exp:exp-b", "exp:exp-a", "exp:exp-a@namespace-1", "pl:hello-world.yaml", "pl:pipe-b"},
	"single": {"exp:Default", "exp:exp-a", "exp:exp-ns", "exp:exp-h", "exp:exp-b", "pl:pipe-ns", "pl:pipe-a"},
}

var (
	labelRef     = regexp.MustCompile(`<(exp|pl|ver):([^>]*)>`)
	objectRef    = regexp.MustCompile(`\{…((?:exp|pl|ver):[^}]*)\}`)
	specElided   = regexp.MustCompile(`\{…the uploaded YAML[^}]*\}`)
	sameBodyAs   = regexp.MustCompile(`^\(same body as "([^"]+)" in section (\d+)\)$`)
	requestAttrs = regexp.MustCompile(`\(request: [^)]*\)`)
	fileVariant  = regexp.MustCompile(`(?:with|whose) (schemaVersion|pipelineInfo\.name)(?: is)? "([^"]*)"`)
)

const previousToken = "<next_page_token of the previous reply>"

// Where the recording's "previous reply" is not the last one with a token:
// the token without page_size continued from page 1 (its reply starts at
// exp-b).
var tokenFrom = map[string]string{"1/exp page_token without page_size": "1/exp page_size=1"}

// Where the recording leaves out a header it must have sent: the same
// request without identity answers 401 in section 4.
var addBearer = map[string]bool{"6/then": true}

// instance is one stand-in and what the replay learnt of it.
type instance struct {
	base, order string
	mu          sync.Mutex
	now         time.Time
	pending     []string
	ids         map[string]string // label → id
	next        int
	objects     map[string]string // label → the object's recorded JSON
	tokens      map[string]string // exchange key → next_page_token the stand-in gave
	lastToken   string
	last        *Exchange
}

func (in *instance) clock() time.Time {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.now
}

// newID hands out the ids queued for the objects the current request
// creates, then fresh ones.
func (in *instance) newID() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.pending) > 0 {
		id := in.idLocked(in.pending[0])
		in.pending = in.pending[1:]
		return id
	}
	in.next++
	return fmt.Sprintf("ffffffff-ffff-4fff-8fff-%012d", in.next)
}

// id assigns a label its id on first sight.
func (in *instance) id(label string) string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.idLocked(label)
}

func (in *instance) idLocked(label string) string {
	if id, ok := in.ids[label]; ok {
		return id
	}
	rank := len(in.ids) + 100
	for i, l := range recordedOrder[in.order] {
		if l == label {
			rank = i + 1
		}
	}
	id := fmt.Sprintf("%08d-0000-4000-8000-%012d", rank, len(in.ids))
	in.ids[label] = id
	return id
}

// Run replays every exchange and reports each outcome, in order.
func (rp Replay) Run(ctx context.Context) []Outcome {
	client := rp.Client
	if client == nil {
		client = &http.Client{Timeout: 20 * time.Second}
	}
	all := Recorded2()
	byKey := map[string]Exchange{}
	for _, e := range all {
		byKey[e.Key()] = e
	}
	instances := map[string]*instance{}
	get := func(name string, multi bool, order string) *instance {
		if in, ok := instances[name]; ok {
			return in
		}
		in := &instance{order: order, ids: map[string]string{}, objects: map[string]string{}, tokens: map[string]string{}}
		if !multi {
			// The Default experiment is made at start, at its recorded time.
			in.pending = []string{"exp:Default"}
			in.id("exp:Default")
			in.now = defaultCreated(all)
		}
		in.base = rp.Start(multi, in.clock, in.newID)
		instances[name] = in
		return in
	}
	var out []Outcome
	for _, e := range all {
		o := Outcome{Exchange: e}
		if why, ok := proseOnly[e.Key()]; ok {
			o.Skipped = why
		} else if why, ok := rp.Skip[e.Key()]; ok {
			o.Skipped = why
		}
		var in *instance
		switch {
		case e.Section == 7:
			in = get("standalone", false, "single")
		case strings.HasPrefix(e.Name, "single-user:"):
			in = get("single-user probes", false, "single")
		default:
			in = get("multi-user", true, "multi")
		}
		if o.Skipped == "" {
			if hook := rp.Before[e.Key()]; hook != nil {
				if err := hook(ctx); err != nil {
					o.Err = fmt.Errorf("before %q: %w", e.Key(), err)
					out = append(out, o)
					continue
				}
			}
			o.Err = rp.exchange(ctx, client, in, e, byKey)
		}
		out = append(out, o)
	}
	return out
}

// defaultCreated is the Default experiment's recorded created_at.
func defaultCreated(all []Exchange) time.Time {
	re := regexp.MustCompile(`"display_name":"Default",[^}]*"created_at":"([^"]+)"`)
	for _, e := range all {
		if m := re.FindStringSubmatch(e.Reply); m != nil {
			if t, err := time.Parse(time.RFC3339, m[1]); err == nil {
				return t
			}
		}
	}
	return time.Unix(0, 0)
}

func (rp Replay) exchange(ctx context.Context, client *http.Client, in *instance, e Exchange, byKey map[string]Exchange) error {
	req := e
	if req.Method == "" {
		if in.last == nil {
			return fmt.Errorf("the recording repeats a request, but none came before")
		}
		req.Method, req.Target, req.Header, req.Body = in.last.Method, in.last.Target, in.last.Header, in.last.Body
	}
	want := e.Reply
	if m := sameBodyAs.FindStringSubmatch(want); m != nil {
		src, ok := byKey[m[2]+"/"+m[1]]
		if !ok {
			return fmt.Errorf("the recording refers to %q in section %s, which it does not have", m[1], m[2])
		}
		want = src.Reply
	}
	want = in.expand(want)
	in.prepare(req, want)

	httpReq, upload, err := rp.request(ctx, in, req, e)
	if err != nil {
		return err
	}
	resp, err := client.Do(httpReq)
	in.mu.Lock()
	in.pending = nil // ids the stand-in did not take must not leak into the next create
	in.mu.Unlock()
	if err != nil {
		return fmt.Errorf("%s %s: %w", req.Method, httpReq.URL.RequestURI(), err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("reading the reply: %w", err)
	}
	last := req
	in.last = &last
	in.remember(e.Key(), want, got)
	return compareReply(e, want, resp, got, upload)
}

// expand puts the recorded objects in place of {…label} and ids in place of
// labels, and marks the elided pipeline spec.
func (in *instance) expand(s string) string {
	s = specElided.ReplaceAllString(s, `"<pipeline_spec>"`)
	s = objectRef.ReplaceAllStringFunc(s, func(m string) string {
		label := objectRef.FindStringSubmatch(m)[1]
		if obj, ok := in.objects[label]; ok {
			return obj
		}
		return m // left unparseable: the comparison will say so
	})
	return labelRef.ReplaceAllStringFunc(s, func(m string) string { return in.id(m[1 : len(m)-1]) })
}

// prepare queues the ids of what this request creates (labels the reply
// shows for the first time) and sets the clock to the reply's created_at.
func (in *instance) prepare(req Exchange, want string) {
	if req.Method != http.MethodPost {
		return
	}
	var reply map[string]any
	if json.Unmarshal([]byte(want), &reply) != nil {
		return
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	for label, id := range in.ids {
		for _, k := range []string{"experiment_id", "id", "pipeline_id"} {
			if reply[k] == id && !in.seen(label) {
				in.pending = append(in.pending, label)
				if strings.HasPrefix(label, "pl:") {
					// An upload makes the pipeline's first version too.
					in.pending = append(in.pending, "ver:"+strings.TrimPrefix(label, "pl:"))
				}
			}
		}
	}
	if at, ok := reply["created_at"].(string); ok {
		if t, err := time.Parse(time.RFC3339, at); err == nil {
			in.now = t
		}
	}
}

// seen reports whether an object was already shown in a reply.
func (in *instance) seen(label string) bool {
	_, ok := in.objects[label]
	return ok
}

// remember keeps the recorded objects for later {…label} references and
// the stand-in's page token.
func (in *instance) remember(key, want string, got []byte) {
	var w any
	if json.Unmarshal([]byte(want), &w) == nil {
		in.collect(w)
	}
	var g map[string]any
	if json.Unmarshal(got, &g) == nil {
		if t, ok := g["next_page_token"].(string); ok && t != "" {
			in.tokens[key] = t
			in.lastToken = t
		}
	}
}

func (in *instance) collect(v any) {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			in.collect(e)
		}
	case map[string]any:
		for _, k := range []string{"pipeline_version_id", "experiment_id", "pipeline_id", "id"} {
			id, ok := x[k].(string)
			if !ok {
				continue
			}
			for label, have := range in.ids {
				if have == id {
					var b bytes.Buffer
					enc := json.NewEncoder(&b)
					enc.SetEscapeHTML(false) // as recorded: & stays &
					_ = enc.Encode(x)
					in.objects[label] = strings.TrimSpace(b.String())
				}
			}
			break
		}
		for _, e := range x {
			in.collect(e)
		}
	}
}

// request builds what the SDK's generated client would send.
func (rp Replay) request(ctx context.Context, in *instance, req, e Exchange) (*http.Request, []byte, error) {
	target := labelRef.ReplaceAllStringFunc(req.Target, func(m string) string { return in.id(m[1 : len(m)-1]) })
	if strings.Contains(target, previousToken) {
		tok := in.lastToken
		if from, ok := tokenFrom[e.Key()]; ok {
			tok = in.tokens[from]
		}
		target = strings.ReplaceAll(target, previousToken, url.QueryEscape(tok))
	}
	header := http.Header{}
	header.Set("Accept", "application/json")
	header.Set("Content-Type", "application/json")
	header.Set("User-Agent", "OpenAPI-Generator/2.17.0/python")
	for i := 0; i+1 < len(req.Header); i += 2 {
		k, v := req.Header[i], req.Header[i+1]
		switch {
		case k == "Content-Type":
			continue
		case k == "Authorization" && v == "Bearer <token>":
			v = "Bearer " + rp.Bearer
		}
		header.Add(k, v)
	}
	if addBearer[e.Key()] {
		header.Set("Authorization", "Bearer "+rp.Bearer)
	}
	body := []byte(labelRef.ReplaceAllStringFunc(req.Body, func(m string) string { return in.id(m[1 : len(m)-1]) }))
	var upload []byte
	if strings.HasSuffix(strings.SplitN(req.Target, "?", 2)[0], "/pipelines/upload") {
		var ct string
		var err error
		body, ct, upload, err = multipartBody(req.Body, e.Name)
		if err != nil {
			return nil, nil, err
		}
		header.Set("Content-Type", ct)
	}
	httpReq, err := http.NewRequestWithContext(ctx, req.Method, in.base+target, bytes.NewReader(body))
	if err != nil {
		return nil, nil, fmt.Errorf("request %q: %w", target, err)
	}
	httpReq.Header = header
	return httpReq, upload, nil
}

var (
	multipartField = regexp.MustCompile(`^<multipart: field "([^"]+)"=(?:"([^"]*)"|(\S+))`)
)

// multipartBody builds the upload described by `<multipart: …>`; it
// returns the body, its content type and the file uploaded.
func multipartBody(desc, name string) ([]byte, string, []byte, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	field, filename, content := "uploadfile", "hello-world.yaml", HelloWorld
	switch m := multipartField.FindStringSubmatch(desc); {
	case strings.HasPrefix(desc, "<multipart: no parts>"):
		field = ""
	case m != nil:
		field = m[1]
		if m[2] != "" {
			filename, content = "pipeline.yaml", []byte(m[2])
		}
	}
	if v := fileVariant.FindStringSubmatch(desc + " " + name); v != nil {
		content = variant(v[1], v[2])
	}
	if field != "" {
		w, err := mw.CreateFormFile(field, filename)
		if err != nil {
			return nil, "", nil, err
		}
		_, _ = w.Write(content)
	}
	if err := mw.Close(); err != nil {
		return nil, "", nil, err
	}
	return buf.Bytes(), mw.FormDataContentType(), content, nil
}

// variant is HelloWorld with one field changed, as the recordings' probes
// changed it.
func variant(field, value string) []byte {
	q, _ := json.Marshal(value)
	switch field {
	case "schemaVersion":
		return bytes.Replace(HelloWorld, []byte("schemaVersion: 2.1.0"), []byte("schemaVersion: "+string(q)), 1)
	default:
		return bytes.Replace(HelloWorld, []byte("pipelineInfo:\n  name: echo"), []byte("pipelineInfo:\n  name: "+string(q)), 1)
	}
}

// compareReply checks status, content type and the parsed body.
func compareReply(e Exchange, want string, resp *http.Response, got []byte, upload []byte) error {
	if resp.StatusCode != e.Status {
		return fmt.Errorf("status %d, recorded %d; body %s", resp.StatusCode, e.Status, got)
	}
	ct := resp.Header.Get("Content-Type")
	wantCT := e.ContentType
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		if strings.TrimSpace(string(got)) != want {
			return fmt.Errorf("body %q, recorded %q", got, want)
		}
		if wantCT != "" && ct != wantCT {
			return fmt.Errorf("content type %q, recorded %q", ct, wantCT)
		}
		return nil
	}
	if wantCT == "" {
		wantCT = "application/json"
	}
	if ct != wantCT {
		return fmt.Errorf("content type %q, recorded %q; body %s", ct, wantCT, got)
	}
	// Parsed JSON cannot tell & from \u0026, which clients print verbatim.
	for _, esc := range []string{`\u0026`, `\u003c`, `\u003e`} {
		if strings.Contains(string(got), esc) != strings.Contains(want, esc) {
			return fmt.Errorf("escaping differs from the recording (%s): %s", esc, got)
		}
	}
	var g any
	if err := json.Unmarshal(got, &g); err != nil {
		return fmt.Errorf("reply is not JSON (%w): %q", err, got)
	}
	if err := normalize(g, upload, true); err != nil {
		return err
	}
	_ = normalize(w, nil, false)
	if !reflect.DeepEqual(g, w) {
		gb, _ := json.Marshal(g)
		wb, _ := json.Marshal(w)
		return fmt.Errorf("body differs:\n got  %s\n want %s", gb, wb)
	}
	return nil
}

// normalize replaces what may differ by nature with markers, after checking
// the stand-in's side: a page token is present, error_details starts with
// the message, pipeline_spec is the uploaded file as JSON.
func normalize(v any, upload []byte, stand bool) error {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			if err := normalize(e, upload, stand); err != nil {
				return err
			}
		}
	case map[string]any:
		for k, e := range x {
			switch s, _ := e.(string); {
			case k == "next_page_token" && s != "":
				x[k] = "<token>"
			case k == "error_details":
				if stand && !strings.HasPrefix(s, fmt.Sprint(x["error_message"])+"\n") {
					return fmt.Errorf("error_details %q does not start with the message", s)
				}
				x[k] = "<details>"
			case k == "pipeline_spec":
				if stand {
					var want any
					js, err := yaml.YAMLToJSON(HelloWorld)
					if err == nil {
						err = json.Unmarshal(js, &want)
					}
					if err != nil || !reflect.DeepEqual(e, want) {
						return fmt.Errorf("pipeline_spec is not the uploaded file: %v", e)
					}
				}
				x[k] = "<pipeline_spec>"
			case k == "message" && s != "":
				// protojson writes its "proto: " prefix with a no-break space in
				// some builds (the recorded one did; one curl block has a plain
				// space): the prefix is not compared.
				x[k] = strings.ReplaceAll(requestAttrs.ReplaceAllString(s, "(request: …)"), "proto:\u00a0", "proto: ")
			default:
				if err := normalize(e, upload, stand); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

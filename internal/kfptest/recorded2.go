package kfptest

import (
	"bufio"
	"bytes"
	_ "embed"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// The second round of recordings from a real KFP 2.17.0 API server, copied
// verbatim from shared/design/kfp-recorded-replies-2.md: sequences of
// requests whose replies depend on what came before (ids, pages).
//
//go:embed testdata/recorded-2.md
var recorded2 []byte

// HelloWorld is the pipeline package the replays upload where the
// recordings uploaded KFP's backend/test/v2/resources/hello-world.yaml.
//
//go:embed testdata/hello-world.yaml
var HelloWorld []byte

// Exchange is one recorded request and its reply.
type Exchange struct {
	Section int    // the recordings' section number
	Name    string // the text after "== "
	Method  string // empty when the recording repeats the previous request
	Target  string // path and query, as recorded (labels not substituted)
	Header  []string
	Body    string // as recorded: JSON, text, or a <multipart: …> description
	Status  int
	// ContentType is the reply's content type when the recording names it.
	ContentType string
	Reply       string
}

// Key names an exchange uniquely: names repeat across sections.
func (e Exchange) Key() string { return fmt.Sprintf("%d/%s", e.Section, e.Name) }

var (
	sectionLine = regexp.MustCompile(`^## (\d+)\. `)
	requestLine = regexp.MustCompile(`^(GET|POST|PUT|DELETE|PATCH) (/.*?)(?:\s{2,}\(.*\))?$`)
	headerLine  = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9-]*): (.*)$`)
	statusLine  = regexp.MustCompile(`^\[HTTP (\d{3})(?:, Content-Type: (.+))?\]$`)
)

// Recorded2 returns every exchange of the second recordings, in order.
func Recorded2() []Exchange {
	var out []Exchange
	section, inBlock := 0, false
	var cur *Exchange
	var body, reply []string
	inReply := false
	flush := func() {
		if cur == nil {
			return
		}
		cur.Body = strings.Join(body, "\n")
		cur.Reply = strings.TrimSpace(strings.Join(reply, "\n"))
		out = append(out, *cur)
		cur, body, reply, inReply = nil, nil, nil, false
	}
	sc := bufio.NewScanner(bytes.NewReader(recorded2))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := sectionLine.FindStringSubmatch(line); m != nil {
			section, _ = strconv.Atoi(m[1])
			continue
		}
		if strings.HasPrefix(line, "```") {
			flush()
			inBlock = !inBlock
			continue
		}
		if !inBlock || section == 0 {
			continue
		}
		switch {
		case strings.HasPrefix(line, "== "):
			flush()
			cur = &Exchange{Section: section, Name: strings.TrimPrefix(line, "== ")}
		case cur == nil:
		case inReply:
			reply = append(reply, line)
		case statusLine.MatchString(line):
			m := statusLine.FindStringSubmatch(line)
			cur.Status, _ = strconv.Atoi(m[1])
			cur.ContentType = m[2]
			inReply = true
		case cur.Method == "" && len(body) == 0 && requestLine.MatchString(line):
			m := requestLine.FindStringSubmatch(line)
			cur.Method, cur.Target = m[1], m[2]
		case strings.HasPrefix(line, "#  "):
			// The decoded filter, a note for readers.
		case cur.Method != "" && len(body) == 0 && headerLine.MatchString(line) && !strings.HasPrefix(line, "{"):
			m := headerLine.FindStringSubmatch(line)
			cur.Header = append(cur.Header, m[1], m[2])
		default:
			body = append(body, line)
		}
	}
	flush()
	return out
}

package login

import (
	"bytes"
	"net/url"
	"strings"

	"golang.org/x/net/html"
)

// Form is an HTML form as a browser would submit it.
type Form struct {
	Action *url.URL // resolved against the page; the page itself when empty
	Method string   // upper case; GET when unset
	Fields []Field
}

// Field is one named control of a form.
type Field struct {
	Name, Type, Value string
}

// field returns the first control with the name.
func (f *Form) field(name string) (Field, bool) {
	for _, x := range f.Fields {
		if x.Name == name {
			return x, true
		}
	}
	return Field{}, false
}

// passwordField is the control that takes the password: Dex names it
// "password"; any type=password control will do when it is named otherwise.
func (f *Form) passwordField() string {
	if _, ok := f.field("password"); ok {
		return "password"
	}
	for _, x := range f.Fields {
		if x.Type == "password" {
			return x.Name
		}
	}
	return ""
}

// loginField is the control that takes the user name: Dex names it "login"
// for every password connector (local and LDAP).
func (f *Form) loginField() string {
	if _, ok := f.field("login"); ok {
		return "login"
	}
	for _, x := range f.Fields {
		switch x.Type {
		case "", "text", "email":
			return x.Name
		}
	}
	return ""
}

// values are what the browser would send before the user types: hidden
// fields and preset values. Submit buttons are left out; a caller adds the one
// it "clicks".
func (f *Form) values() url.Values {
	v := url.Values{}
	for _, x := range f.Fields {
		switch x.Type {
		case "submit", "button", "image", "reset", "checkbox", "radio":
			continue
		}
		v.Add(x.Name, x.Value)
	}
	return v
}

// parsed is what the flow needs from a page: its forms and its links.
type parsed struct {
	forms []*Form
	links []*url.URL
}

// loginForm is the first form with a password control.
func (p parsed) loginForm() *Form {
	for _, f := range p.forms {
		if f.passwordField() != "" {
			return f
		}
	}
	return nil
}

// approvalForm is Dex's "Grant Access" form: the one sending approval=approve,
// or failing that one carrying the request id.
func (p parsed) approvalForm() *Form {
	for _, f := range p.forms {
		if x, ok := f.field("approval"); ok && x.Value == "approve" {
			return f
		}
	}
	for _, f := range p.forms {
		if _, ok := f.field("req"); ok {
			return f
		}
	}
	return nil
}

// parsePage reads forms and links with an HTML tokenizer: Dex's templates
// change their markup between releases, so nothing here depends on classes,
// ids or layout — only on form, input, button and a elements.
func parsePage(body []byte, base *url.URL) parsed {
	var out parsed
	var cur *Form
	z := html.NewTokenizer(bytes.NewReader(body))
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return out
		case html.EndTagToken:
			if name, _ := z.TagName(); string(name) == "form" {
				cur = nil
			}
			continue
		case html.StartTagToken, html.SelfClosingTagToken:
		default:
			continue
		}
		name, hasAttr := z.TagName()
		attrs := map[string]string{}
		for hasAttr {
			var k, v []byte
			k, v, hasAttr = z.TagAttr()
			if _, dup := attrs[string(k)]; !dup {
				attrs[string(k)] = string(v)
			}
		}
		switch string(name) {
		case "form":
			action := base
			if a := strings.TrimSpace(attrs["action"]); a != "" {
				if u, err := base.Parse(a); err == nil {
					action = u
				}
			}
			method := strings.ToUpper(strings.TrimSpace(attrs["method"]))
			if method == "" {
				method = "GET"
			}
			cur = &Form{Action: action, Method: method}
			out.forms = append(out.forms, cur)
		case "input", "button", "textarea", "select":
			if cur == nil || attrs["name"] == "" {
				continue
			}
			typ := strings.ToLower(attrs["type"])
			if string(name) == "button" && typ == "" {
				typ = "submit"
			}
			cur.Fields = append(cur.Fields, Field{Name: attrs["name"], Type: typ, Value: attrs["value"]})
		case "a":
			if h := strings.TrimSpace(attrs["href"]); h != "" {
				if u, err := base.Parse(h); err == nil {
					out.links = append(out.links, u)
				}
			}
		}
	}
}

// connectorOf returns the connector id in a Dex path …/auth/<id>[/…].
func connectorOf(u *url.URL) (string, bool) {
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	for i := 0; i+1 < len(parts); i++ {
		if parts[i] == "dex" {
			rest := parts[i+1:]
			if len(rest) >= 2 && rest[0] == "auth" && rest[1] != "" {
				if id, err := url.PathUnescape(rest[1]); err == nil {
					return id, true
				}
			}
			return "", false
		}
	}
	return "", false
}

// withConnector is u with its connector id replaced, as the choice page's
// link for that connector would read.
func withConnector(u *url.URL, id string) *url.URL {
	c := *u
	old, ok := connectorOf(u)
	if !ok {
		return &c
	}
	i := strings.Index(c.Path, "/auth/"+old)
	if i < 0 {
		return &c
	}
	c.Path = c.Path[:i] + "/auth/" + id
	c.RawPath = ""
	return &c
}

package apiserver

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// listable is what sorting, filtering and paging read of a stored object.
type listable interface {
	key() string
	// field is the value of a model column: a string or an int64.
	field(column string) (any, bool)
}

// listSpec is KFP's list.Listable for one model.
type listSpec struct {
	typeName string            // the Go type KFP names in errors: "Experiment"
	model    string            // the table, and the prefix of qualified columns
	fields   map[string]string // API key → model column, for filters and sort_by
}

// KFP's page size bounds (backend/src/apiserver/list/list.go).
const (
	defaultPageSize = 20
	maxPageSize     = 200
	keyColumn       = "UUID"
	createdColumn   = "CreatedAtInSec"
)

// listQuery is a List request's paging parameters as grpc-gateway parsed
// them from the query string.
type listQuery struct {
	pageToken, sortBy, filter string
	pageSize                  int
}

// parseListQuery reads the query parameters; a page_size that is not an
// int32 is grpc-gateway's own 400, with no details.
func parseListQuery(q url.Values) (listQuery, error) {
	lq := listQuery{pageToken: q.Get("page_token"), sortBy: q.Get("sort_by"), filter: q.Get("filter")}
	if v := q.Get("page_size"); v != "" {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			return listQuery{}, fmt.Errorf("parsing field %q: %w", "page_size", err)
		}
		lq.pageSize = int(n)
	}
	return lq, nil
}

// pageToken is KFP's list token, field for field: its JSON, base64 encoded,
// is the next_page_token clients see and send back.
type pageToken struct {
	SortByFieldName   string
	SortBySQLColumn   string
	SortByFieldValue  any
	SortByFieldPrefix string
	KeyFieldName      string
	KeyFieldValue     any
	KeyFieldPrefix    string
	IsDesc            bool
	ModelName         string
	Filter            *filter
}

// listOptions is KFP's list.Options.
type listOptions struct {
	pageSize int
	pageToken
}

// listOptions is KFP's validatedListOptions (server/list_request_util.go):
// a page token carries sort and filter, so without one they come from the
// query; with one, a sort_by or filter sent too must match it.
func (lq listQuery) options(spec listSpec, filterMD protoreflect.MessageDescriptor) (*listOptions, *userError) {
	fresh := func() (*listOptions, *userError) {
		f, err := parseFilter(lq.filter, filterMD)
		if err != nil {
			return nil, err
		}
		return newListOptions(spec, lq.pageSize, lq.sortBy, f)
	}
	if lq.pageToken == "" {
		return fresh()
	}
	size, err := validatePageSize(lq.pageSize)
	if err != nil {
		return nil, err
	}
	t, err := decodePageToken(lq.pageToken, spec)
	if err != nil {
		return nil, err
	}
	opts := &listOptions{pageSize: size, pageToken: t}
	if lq.sortBy != "" || lq.filter != "" {
		want, err := fresh()
		if err != nil {
			return nil, err
		}
		if !opts.sameOrder(want) {
			return nil, invalidInput("page token does not match the supplied sort by and/or filtering criteria. Either specify the same criteria or leave the latter empty if page token is specified.")
		}
	}
	return opts, nil
}

func (o *listOptions) sameOrder(p *listOptions) bool {
	a, _ := json.Marshal(o.Filter)
	b, _ := json.Marshal(p.Filter)
	return o.SortByFieldName == p.SortByFieldName && o.IsDesc == p.IsDesc && string(a) == string(b)
}

// newListOptions is KFP's list.NewOptions.
func newListOptions(spec listSpec, pageSize int, sortBy string, f *filter) (*listOptions, *userError) {
	size, err := validatePageSize(pageSize)
	if err != nil {
		return nil, err
	}
	t := pageToken{
		SortByFieldName: createdColumn, KeyFieldName: keyColumn, ModelName: spec.model,
		SortByFieldPrefix: spec.model + ".", KeyFieldPrefix: spec.model + ".",
	}
	words := strings.Fields(strings.ToLower(sortBy))
	if len(words) > 2 || (len(words) == 2 && words[1] != "desc" && words[1] != "asc") {
		return nil, invalidInput(fmt.Sprintf("Received invalid sort by format %q. Supported format: \"field_name\", \"field_name desc\", or \"field_name asc\"", sortBy))
	}
	if len(words) > 0 {
		col, ok := spec.fields[words[0]]
		if !ok {
			return nil, invalidInput(fmt.Sprintf("Invalid sorting field: %q on listable type %s", words[0], spec.typeName))
		}
		t.SortByFieldName = col
	}
	t.SortBySQLColumn = t.SortByFieldName
	t.IsDesc = len(words) == 2 && words[1] == "desc"
	if err := f.qualify(spec); err != nil {
		return nil, err
	}
	t.Filter = f
	return &listOptions{pageSize: size, pageToken: t}, nil
}

func validatePageSize(n int) (int, *userError) {
	switch {
	case n < 0:
		return 0, invalidInput(fmt.Sprintf("The page size should be greater than 0. Got %d", n))
	case n == 0:
		return defaultPageSize, nil
	case n > maxPageSize:
		return maxPageSize, nil
	}
	return n, nil
}

// decodePageToken reverses a next_page_token. KFP only decodes it; the
// stand-in also refuses a token for another model or column (KFP would fail
// later in SQL), so a tampered token never lists the wrong thing.
func decodePageToken(s string, spec listSpec) (pageToken, *userError) {
	bad := func(cause string) (pageToken, *userError) {
		return pageToken{}, &userError{codeInvalidArgument, "Invalid page token", "InvalidInputError: Invalid page token: " + cause}
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return bad(err.Error())
	}
	var t pageToken
	if err := json.Unmarshal(b, &t); err != nil {
		return bad(err.Error())
	}
	known := t.SortByFieldName == keyColumn
	for _, col := range spec.fields {
		known = known || col == t.SortByFieldName
	}
	if t.ModelName != spec.model || !known || t.KeyFieldName != keyColumn || t.SortByFieldValue == nil || t.KeyFieldValue == nil {
		return bad(fmt.Sprintf("the token is not one this server issued for %s", spec.model))
	}
	return t, nil
}

func (t pageToken) encode() string {
	b, _ := json.Marshal(t) // strings, numbers and maps of them always marshal
	return base64.StdEncoding.EncodeToString(b)
}

// page applies the options to every stored object of a model: filter, sort
// by the column with the key breaking ties (both reversed by desc), start
// at the token's row, cut the page. total counts every match, as KFP's
// total_size does; next is empty on the last page.
func (o *listOptions) page(items []listable) (page []listable, total int, next string) {
	var matched []listable
	for _, it := range items {
		if o.Filter.matches(o.ModelName, it) {
			matched = append(matched, it)
		}
	}
	less := func(a, b listable) bool {
		c := compareFields(a, b, o.SortByFieldName)
		if c == 0 {
			c = strings.Compare(a.key(), b.key())
		}
		if o.IsDesc {
			return c > 0
		}
		return c < 0
	}
	sort.SliceStable(matched, func(i, j int) bool { return less(matched[i], matched[j]) })
	rest := matched
	if o.SortByFieldValue != nil {
		rest = nil
		for i, it := range matched {
			if !o.before(it) {
				rest = matched[i:]
				break
			}
		}
	}
	if len(rest) > o.pageSize {
		n := o.pageToken
		n.SortByFieldValue, _ = rest[o.pageSize].field(o.SortByFieldName)
		n.KeyFieldValue = rest[o.pageSize].key()
		next = n.encode()
		rest = rest[:o.pageSize]
	}
	return rest, len(matched), next
}

// before reports whether it sorts ahead of the token's row.
func (o *listOptions) before(it listable) bool {
	v, _ := it.field(o.SortByFieldName)
	c := compare(v, o.SortByFieldValue)
	if c == 0 {
		c = strings.Compare(it.key(), fmt.Sprint(o.KeyFieldValue))
	}
	if o.IsDesc {
		return c > 0
	}
	return c < 0
}

func compareFields(a, b listable, column string) int {
	av, _ := a.field(column)
	bv, _ := b.field(column)
	if c := compare(av, bv); c != incomparable {
		return c
	}
	return 0
}

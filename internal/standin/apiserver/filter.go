package apiserver

import (
	"fmt"
	"sort"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// filter is KFP's filter.Filter (backend/src/apiserver/filter/filter.go):
// predicates grouped by operation, keyed by the model's qualified column
// ("experiments.Name"), AND-ed together. Its JSON form is the one KFP puts
// into page tokens, so a token carries the list's filter as KFP's does.
type filter struct {
	EQ, NEQ, GT, GTE, LT, LTE, IN, SUBSTRING map[string][]any
}

// The operations, by the name KFP's toOperation gives them.
var filterOps = []string{"EQUALS", "NOT_EQUALS", "GREATER_THAN", "GREATER_THAN_EQUALS", "LESS_THAN", "LESS_THAN_EQUALS", "IN", "IS_SUBSTRING"}

func (f *filter) group(op string) *map[string][]any {
	switch op {
	case "EQUALS":
		return &f.EQ
	case "NOT_EQUALS":
		return &f.NEQ
	case "GREATER_THAN":
		return &f.GT
	case "GREATER_THAN_EQUALS":
		return &f.GTE
	case "LESS_THAN":
		return &f.LT
	case "LESS_THAN_EQUALS":
		return &f.LTE
	case "IN":
		return &f.IN
	case "IS_SUBSTRING":
		return &f.SUBSTRING
	}
	return nil
}

// parseFilter reads the `filter` query parameter as KFP's parseAPIFilter
// does: protojson of the API version's Filter message (v1beta1 names the
// operation `op`, v2beta1 `operation`). An empty string or no predicates is
// no filter. Errors are the bare causes; callers wrap them as their KFP
// handler does.
func parseFilter(encoded string, md protoreflect.MessageDescriptor) (*filter, *userError) {
	if encoded == "" {
		return nil, nil
	}
	m, err := unmarshalProto(md, []byte(encoded))
	if err != nil {
		return nil, invalidInput(fmt.Sprintf("failed to parse valid filter from %q: %v", encoded, err))
	}
	return filterFromProto(m)
}

// filterFromProto is KFP's toPredicates + NewFromPredicate with
// checkPredicate's validation, over a parsed Filter message.
func filterFromProto(m protoreflect.Message) (*filter, *userError) {
	preds := getList(m, "predicates")
	if preds == nil || preds.Len() == 0 {
		return nil, nil
	}
	f := &filter{}
	for _, op := range filterOps {
		*f.group(op) = map[string][]any{}
	}
	for i := 0; i < preds.Len(); i++ {
		p := preds.Get(i).Message()
		op := enumName(p, "operation")
		if p.Descriptor().Fields().ByName("op") != nil {
			op = enumName(p, "op")
		}
		value, ok := predicateValue(p)
		if !ok {
			// KFP's toValue on an unset oneof: NewUnknownApiVersionError.
			return nil, invalidInput(fmt.Sprintf("Error using Filter.Predicate.Value with %v", "<nil>"))
		}
		key := getString(p, "key")
		if key == "" {
			return nil, invalidInput(fmt.Sprintf("Predicate key cannot be empty for operation %v and value %v", op, value))
		}
		if err := checkPredicate(op, value); err != nil {
			return nil, err
		}
		g := *f.group(op)
		g[key] = append(g[key], value)
	}
	return f, nil
}

// predicateValue is KFP's toValue: timestamps become Unix seconds, lists
// their values.
func predicateValue(p protoreflect.Message) (any, bool) {
	fd := p.WhichOneof(p.Descriptor().Oneofs().ByName("value"))
	if fd == nil {
		return nil, false
	}
	v := p.Get(fd)
	switch fd.Name() {
	case "int_value", "long_value":
		return v.Int(), true
	case "string_value":
		return v.String(), true
	case "timestamp_value":
		return v.Message().Get(v.Message().Descriptor().Fields().ByName("seconds")).Int(), true
	}
	list := v.Message().Get(v.Message().Descriptor().Fields().ByName("values")).List()
	if fd.Name() == "string_values" {
		out := make([]string, list.Len())
		for i := range out {
			out[i] = list.Get(i).String()
		}
		return out, true
	}
	out := make([]int64, list.Len())
	for i := range out {
		out[i] = list.Get(i).Int()
	}
	return out, true
}

func checkPredicate(op string, value any) *userError {
	_, isList := value.([]string)
	if _, ok := value.([]int64); ok {
		isList = true
	}
	switch op {
	case "IN":
		if !isList {
			return invalidInput(fmt.Sprintf("cannot use IN operator with scalar type %T", value))
		}
	case "IS_SUBSTRING":
		if _, ok := value.(string); !ok {
			return invalidInput(fmt.Sprintf("cannot use non string value type %T with operator %v", value, op))
		}
	case "EQUALS", "NOT_EQUALS", "GREATER_THAN", "GREATER_THAN_EQUALS", "LESS_THAN", "LESS_THAN_EQUALS":
		if isList {
			return invalidInput(fmt.Sprintf("cannot use scalar operator %v on array type %T", op, value))
		}
	default:
		return invalidInput(fmt.Sprintf("invalid predicate operation: %v", op))
	}
	return nil
}

// qualify is KFP's ReplaceKeys: API keys become the model's qualified
// columns; an unknown key is refused.
func (f *filter) qualify(spec listSpec) *userError {
	if f == nil {
		return nil
	}
	for _, op := range filterOps {
		g := f.group(op)
		out := map[string][]any{}
		for _, k := range sortedKeys(*g) {
			col, ok := spec.fields[k]
			if !ok {
				return invalidInput(fmt.Sprintf("no support for filtering on unrecognized field %q", k))
			}
			out[spec.model+"."+col] = append(out[spec.model+"."+col], (*g)[k]...)
		}
		*g = out
	}
	return nil
}

func sortedKeys(m map[string][]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// matches applies the filter as KFP's SQL does (filter.AddToSelect): string
// comparisons through LOWER(), so case-insensitive; substrings as LIKE
// %v%; numbers numerically. Values may come back from a page token's JSON,
// where numbers are float64 and lists []any.
func (f *filter) matches(model string, item listable) bool {
	if f == nil {
		return true
	}
	for _, op := range filterOps {
		for col, values := range *f.group(op) {
			field, ok := item.field(strings.TrimPrefix(col, model+"."))
			if !ok {
				return false
			}
			for _, v := range values {
				if !predicateHolds(op, field, v) {
					return false
				}
			}
		}
	}
	return true
}

func predicateHolds(op string, field, value any) bool {
	if op == "IN" {
		for _, v := range asList(value) {
			if compare(field, v) == 0 {
				return true
			}
		}
		return false
	}
	if op == "IS_SUBSTRING" {
		s, ok := value.(string)
		return ok && strings.Contains(strings.ToLower(fmt.Sprint(field)), strings.ToLower(s))
	}
	c := compare(field, value)
	switch op {
	case "EQUALS":
		return c == 0
	case "NOT_EQUALS":
		return c != 0 && c != incomparable
	case "GREATER_THAN":
		return c == 1
	case "GREATER_THAN_EQUALS":
		return c == 0 || c == 1
	case "LESS_THAN":
		return c == -1
	case "LESS_THAN_EQUALS":
		return c == 0 || c == -1
	}
	return false
}

func asList(v any) []any {
	switch l := v.(type) {
	case []any:
		return l
	case []string:
		out := make([]any, len(l))
		for i, s := range l {
			out[i] = s
		}
		return out
	case []int64:
		out := make([]any, len(l))
		for i, n := range l {
			out[i] = n
		}
		return out
	}
	return nil
}

// incomparable marks a string field against a number or the reverse.
const incomparable = 2

// compare orders a stored field (string or int64) against a predicate
// value: -1, 0, 1, or incomparable.
func compare(field, value any) int {
	switch f := field.(type) {
	case string:
		s, ok := value.(string)
		if !ok {
			return incomparable
		}
		return strings.Compare(strings.ToLower(f), strings.ToLower(s))
	case int64:
		n, ok := number(value)
		if !ok {
			return incomparable
		}
		switch {
		case float64(f) < n:
			return -1
		case float64(f) > n:
			return 1
		}
		return 0
	}
	return incomparable
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

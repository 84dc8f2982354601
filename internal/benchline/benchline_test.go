package benchline

import "testing"

func TestLineRoundTripsAlsoFromATestLog(t *testing.T) {
	f := Figure{Name: "explain.corpus", Title: "corpus right", Value: 100, Unit: "%", Target: ">= 90", Detail: "119 texts"}
	for _, line := range []string{Line(f), "    corpus_test.go:99: " + Line(f), Line(f) + "\r\n"} {
		got, ok, err := Parse(line)
		if !ok || err != nil || got != f {
			t.Errorf("%q: %+v ok %t err %v", line, got, ok, err)
		}
	}
	for _, other := range []string{"ordinary output", "echo BENCH " + Line(f)[len(Prefix):], "a b.go:1: " + Line(f), "x.go:NaN: " + Line(f)} {
		if _, ok, _ := Parse(other); ok {
			t.Errorf("%q was taken for a benchmark line", other)
		}
	}
}

func TestMet(t *testing.T) {
	for _, c := range []struct {
		value      float64
		target     string
		met, known bool
	}{
		{9, "<= 10", true, true}, {10, "<= 10", true, true}, {10, "< 10", false, true},
		{31, ">= 30", true, true}, {30, "> 30", false, true}, {5, "", false, false},
	} {
		met, known := Figure{Value: c.value, Target: c.target}.Met()
		if met != c.met || known != c.known {
			t.Errorf("%v %q: met %t known %t", c.value, c.target, met, known)
		}
	}
}

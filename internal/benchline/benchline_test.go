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

func TestParseGoBench(t *testing.T) {
	figs, ok := ParseGoBench("sandbox", "BenchmarkStartToServing-2   	      20	  70123456 ns/op	  4096 B/op	  12 allocs/op")
	if !ok || len(figs) != 1 || figs[0].Name != "sandbox.BenchmarkStartToServing.ns/op" || figs[0].Value != 70.123456 || figs[0].Unit != "ms" {
		t.Fatalf("%+v", figs)
	}
	figs, ok = ParseGoBench("doctor", "BenchmarkDoctorHealthy-2      	      15	   5369457 ns/op	         4.600 median-ms")
	if !ok || len(figs) != 2 || figs[1].Value != 4.6 || figs[1].Unit != "ms" || figs[1].Name != "doctor.BenchmarkDoctorHealthy.median-ms" {
		t.Fatalf("%+v", figs)
	}
	for _, other := range []string{"BenchmarkX-2 --- SKIP: needs root", "goos: linux", "PASS", "ok  \tpkg\t1.2s", "BenchmarkX"} {
		if _, ok := ParseGoBench("p", other); ok {
			t.Errorf("%q read as a benchmark", other)
		}
	}
}

package procstat

import (
	"os"
	"strconv"
	"testing"
)

func TestState(t *testing.T) {
	cases := []struct {
		line string
		want byte
		ok   bool
	}{
		{"1234 (sleep) S 1 1234 1234 0 -1", 'S', true},
		{"1234 (a) Z (b) R 1 2", 'R', true}, // a name with ") " in it
		{"1234 (kube-apiserver) Z 1", 'Z', true},
		{"125 (odd) name) R 1 125", 'R', true},
		{"1234 (trunc)", 0, false},
		{"garbage", 0, false},
	}
	for _, c := range cases {
		got, ok := State(c.line)
		if got != c.want || ok != c.ok {
			t.Errorf("State(%q) = %q %v, want %q %v", c.line, got, ok, c.want, c.ok)
		}
	}
}

// This test process runs: its own state is readable and not an exited one.
func TestReadSelf(t *testing.T) {
	st, ok := Read(strconv.Itoa(os.Getpid()))
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc here")
	}
	if !ok || Exited(st) {
		t.Fatalf("own state %q ok %v", st, ok)
	}
	start, err := StartTime(os.Getpid())
	if err != nil || start == 0 {
		t.Fatalf("own start time %d: %v", start, err)
	}
	if _, err := StartTime(0); err == nil {
		t.Fatal("pid 0 has a start time")
	}
	if _, ok := Read("0"); ok {
		t.Fatal("pid 0 has no /proc entry")
	}
}

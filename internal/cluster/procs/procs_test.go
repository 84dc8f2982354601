package procs

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseVmRSS(t *testing.T) {
	tests := []struct {
		name    string
		status  string
		want    int64
		wantErr bool
	}{
		{"running", "Name:\tetcd\nVmPeak:\t 100 kB\nVmRSS:\t   51234 kB\nThreads:\t9\n", 51234, false},
		{"zombie has none", "Name:\tx\nState:\tZ (zombie)\n", 0, false},
		{"garbled", "VmRSS:\t12 MB\n", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseVmRSS(strings.NewReader(tt.status))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("parseVmRSS = %d, %v; want %d, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestProcessesMentioningRefusesEmpty(t *testing.T) {
	if _, err := Mentioning(""); err == nil {
		t.Fatal("an empty pattern would match, and let us kill, every process")
	}
}

func TestWaitExitedSeesOwnProcessRunning(t *testing.T) {
	self := []Process{{PID: os.Getpid()}}
	if err := WaitExited(t.Context(), self, 50*time.Millisecond); err == nil {
		t.Fatal("this very process counted as exited")
	}
	if err := WaitExited(t.Context(), []Process{{PID: 1 << 30}}, time.Second); err != nil {
		t.Fatalf("a pid that cannot exist counted as running: %v", err)
	}
}

package main

import (
	"testing"
	"time"
)

// initialized is when this test binary's packages were initialized: its
// process started a little before.
var initialized = time.Now()

func TestProcessStartedIsBeforeInit(t *testing.T) {
	got := processStarted()
	// /proc counts in ticks of 10 ms, truncated: the estimate may be up to
	// one tick early, never later than the start, which was before init
	// (the fallback, the time of the call, is after it).
	if got.After(initialized) || got.Before(initialized.Add(-30*time.Second)) {
		t.Fatalf("process started %v, package init at %v", got, initialized)
	}
}

package main

import (
	"context"
	"io"
	"sort"
	"testing"
	"time"

	"github.com/kfp-connect/kfp-connect/internal/kfptest"
)

// The doctor's wall time, in-process (process start adds a few ms):
//
//	go test ./cmd/kfp-doctor -run '^$' -bench Doctor -benchtime 7x
//
// Each benchmark reports the median of its runs as median-ms.
func BenchmarkDoctorHealthy(b *testing.B) {
	s := kfptest.Server(b, kfptest.Routes{
		kfptest.HealthzV2:     kfptest.Fixed("v2 healthz"),
		kfptest.ExperimentsV2: kfptest.Fixed("bearer aud=pipelines.kubeflow.org, ns=ns-1"),
	})
	benchDoctor(b, 0, "--host", s.URL, "-n", "ns-1", "-o", "json")
}

// A host that accepts TCP and never answers: the doctor must stop at
// --timeout (here 1s) where kfp.Client() would hang forever.
func BenchmarkDoctorBlackholed(b *testing.B) {
	benchDoctor(b, 1, "--host", kfptest.SilentServer(b), "-n", "ns-1", "--timeout", "1s", "-o", "json")
}

func benchDoctor(b *testing.B, wantCode int, args ...string) {
	b.Helper()
	times := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if code := run(context.Background(), args, io.Discard, io.Discard); code != wantCode {
			b.Fatalf("exit %d, want %d", code, wantCode)
		}
		times = append(times, time.Since(start))
	}
	b.StopTimer()
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "median-ms")
}

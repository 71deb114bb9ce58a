package bench

import (
	"os"
	"runtime"
	"runtime/metrics"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/require"
)

// heapSampler records the peak heap growth over a baseline taken after a
// forced GC: it reads runtime/metrics (heap objects + unused bytes of
// in-use spans, which is MemStats.HeapInuse, without stopping the world)
// every millisecond in a goroutine. Garbage not yet collected counts, as it
// does for the process's memory.
type heapSampler struct {
	stop chan struct{}
	done chan struct{}
	base uint64
	peak uint64
}

var heapMetrics = []string{"/memory/classes/heap/objects:bytes", "/memory/classes/heap/unused:bytes"}

func heapInuse(s []metrics.Sample) uint64 {
	metrics.Read(s)
	var n uint64
	for _, x := range s {
		n += x.Value.Uint64()
	}
	return n
}

func startHeap() *heapSampler {
	s := make([]metrics.Sample, len(heapMetrics))
	for i, n := range heapMetrics {
		s[i].Name = n
	}
	runtime.GC()
	h := &heapSampler{stop: make(chan struct{}), done: make(chan struct{})}
	h.base = heapInuse(s)
	h.peak = h.base
	go func() {
		defer close(h.done)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-h.stop:
				h.peak = max(h.peak, heapInuse(s))
				return
			case <-t.C:
				h.peak = max(h.peak, heapInuse(s))
			}
		}
	}()
	return h
}

// Stop ends sampling and returns the peak growth in bytes.
func (h *heapSampler) Stop() uint64 {
	close(h.stop)
	<-h.done
	return h.peak - h.base
}

// cpuTime is the user+system CPU time used so far by this process and by
// its waited-for children (pigz, gzip).
func cpuTime() time.Duration {
	var t time.Duration
	for _, who := range []int{syscall.RUSAGE_SELF, syscall.RUSAGE_CHILDREN} {
		var ru syscall.Rusage
		if err := syscall.Getrusage(who, &ru); err == nil {
			t += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	return t
}

// way runs one way of doing a job b.N times, with setup (untimed) before
// each run, and reports the peak heap growth (MiB) over the runs and the
// CPU time per run (cpu-s/op: all threads, so on 2 cores it can reach twice
// the wall time; it includes the in-process registry when there is one).
// It returns the time per run.
func way(b *testing.B, setup func(), run func()) time.Duration {
	b.Helper()
	var peak uint64
	var cpu time.Duration
	b.ReportAllocs()
	b.StopTimer()
	b.ResetTimer() // what the benchmark did before is not measured
	for range b.N {
		if setup != nil {
			setup()
		}
		h := startHeap()
		c0 := cpuTime()
		b.StartTimer()
		run()
		b.StopTimer()
		cpu += cpuTime() - c0
		peak = max(peak, h.Stop())
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
	return b.Elapsed() / time.Duration(b.N)
}

// sizedWay is way for a job that makes a blob out of size bytes of input
// (b.SetBytes): run returns the blob's size, reported in MB as out-MB.
func sizedWay(b *testing.B, size int64, setup func(), run func() int64) time.Duration {
	b.Helper()
	b.SetBytes(size)
	var out int64
	d := way(b, setup, func() { out = run() })
	b.ReportMetric(float64(out)/1e6, "out-MB")
	return d
}

// pushRead returns a run for way or sizedWay: it makes a layer with
// newLayer and reads what a push reads of it (consume), and returns the
// layer's compressed size.
func pushRead(b *testing.B, newLayer func() (v1.Layer, error)) func() int64 {
	return func() int64 {
		l, err := newLayer()
		require.NoError(b, err)
		var n int64
		require.NoError(b, consume(l, &n))
		return n
	}
}

// times keeps, per key, the time per run of every run of a way in this
// process, so that another way's sub-benchmark can report its ratio to it.
var (
	timesMu sync.Mutex
	times   = map[string][]time.Duration{}
)

func record(key string, d time.Duration) {
	timesMu.Lock()
	defer timesMu.Unlock()
	times[key] = append(times[key], d)
}

// median returns the median time recorded under key, if any.
func median(key string) (time.Duration, bool) {
	timesMu.Lock()
	defer timesMu.Unlock()
	ts := slices.Clone(times[key])
	if len(ts) == 0 {
		return 0, false
	}
	slices.Sort(ts)
	if len(ts)%2 == 1 {
		return ts[len(ts)/2], true
	}
	return (ts[len(ts)/2-1] + ts[len(ts)/2]) / 2, true
}

// reportRatio reports d divided by the median time recorded under key as
// the metric unit (for example "x-ggcr"), when key has been measured in
// this process.
func reportRatio(b *testing.B, d time.Duration, key, unit string) {
	if m, ok := median(key); ok && m > 0 {
		b.ReportMetric(float64(d)/float64(m), unit)
	}
}

// scratchDir returns a fresh directory, removed at the end of the
// benchmark.
func scratchDir(b testing.TB, pattern string) string {
	b.Helper()
	require.NoError(b, os.MkdirAll(dataRoot(), 0o755))
	d, err := os.MkdirTemp(dataRoot(), pattern)
	require.NoError(b, err)
	b.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// spoolDir returns a scratch directory for the layers' spooled temp files
// and a setup for way that empties it.
func spoolDir(b testing.TB) (string, func()) {
	b.Helper()
	spool := scratchDir(b, "spool-")
	return spool, func() { clearDir(spool) }
}

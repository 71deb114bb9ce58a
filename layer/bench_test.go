package layer

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	kgzip "github.com/klauspost/compress/gzip"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/internal/ctxio"
	"github.com/stevedore-dev/stevedore/internal/itest"
	"github.com/stevedore-dev/stevedore/internal/tartest"
)

// goTarball returns a gzip tarball of the local GOROOT with names under
// "go/" (the shape of a Go release tarball), generated deterministically
// once into the benchmarks' data directory (itest.BenchData), and its
// uncompressed size.
func goTarball(b *testing.B) (string, int64) {
	b.Helper()
	goroot := runtime.GOROOT()
	if goroot == "" {
		goroot = "/usr/local/go"
	}
	if _, err := os.Stat(filepath.Join(goroot, "src")); err != nil {
		b.Skipf("GOROOT %q unavailable (%v): the benchmark tarball is made from it", goroot, err)
	}
	dir := itest.BenchData()
	p := filepath.Join(dir, "goroot-"+runtime.Version()+".tar.gz")
	sizeFile := p + ".size"
	if raw, err := os.ReadFile(sizeFile); err == nil {
		var n int64
		if _, err := fmt.Sscan(string(raw), &n); err == nil {
			if _, err := os.Stat(p); err == nil {
				return p, n
			}
		}
	}
	require.NoError(b, os.MkdirAll(dir, 0o755))
	tmp, err := os.CreateTemp(dir, "gen-*")
	require.NoError(b, err)
	defer os.Remove(tmp.Name())
	n, err := writeGoTarball(tmp, goroot)
	require.NoError(b, errors.Join(err, tmp.Close()), "generating %s", p)
	require.NoError(b, os.Rename(tmp.Name(), p))
	require.NoError(b, os.WriteFile(sizeFile, []byte(fmt.Sprint(n)), 0o644))
	return p, n
}

// writeGoTarball writes the tree goroot to w as a gzip tar with names
// under "go/" and a fixed mtime, and returns the size of the tar.
func writeGoTarball(w io.Writer, goroot string) (int64, error) {
	zw, err := kgzip.NewWriterLevel(w, kgzip.DefaultCompression)
	if err != nil {
		return 0, err
	}
	cw := &ctxio.CountWriter{W: zw}
	tw := tar.NewWriter(cw)
	err = tartest.WriteTree(tw, goroot, "go", time.Date(2025, 8, 1, 0, 0, 0, 0, time.UTC), tar.FormatUnknown)
	if err != nil {
		return 0, err
	}
	if err := errors.Join(tw.Close(), zw.Close()); err != nil {
		return 0, err
	}
	return cw.N, nil
}

// heapSampler tracks the peak HeapInuse above a baseline.
type heapSampler struct {
	base, max uint64
	mu        sync.Mutex
	stopc     chan struct{}
	done      chan struct{}
}

func startHeap() *heapSampler {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	s := &heapSampler{base: m.HeapInuse, max: m.HeapInuse, stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-s.stopc:
				return
			case <-t.C:
				s.sample()
			}
		}
	}()
	return s
}

func (s *heapSampler) sample() {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	s.mu.Lock()
	s.max = max(s.max, m.HeapInuse)
	s.mu.Unlock()
}

// stop returns the peak growth in MiB.
func (s *heapSampler) stop() float64 {
	s.sample()
	close(s.stopc)
	<-s.done
	return float64(s.max-s.base) / (1 << 20)
}

// ggcrNsPerOp holds the plain ggcr way's time per op of each run so far
// (with -count N, go test runs the ggcr sub-benchmark N times before the
// stevedore ones); the stevedore sub-benchmarks report their time over
// the median of these.
var ggcrNsPerOp []float64

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// BenchmarkTarballUnderRoot builds a layer from a Go-toolchain-shaped gzip
// tarball placed under /usr/local, reading Digest, DiffID and the whole
// Compressed stream (what a push needs): first the plain ggcr way (a
// re-rooted tar stream into tarball.LayerFromOpener, which compresses once
// for Digest and again for Compressed), then this package, with gzip and
// with zstd. Each reports its peak heap growth (HeapInuse sampled every
// 5ms); the stevedore runs also report ratio-vs-ggcr-median, their time
// over the median ggcr time of the same go test run.
//
//	go test ./layer -run '^$' -bench TarballUnderRoot -benchtime 3x -count 3
func BenchmarkTarballUnderRoot(b *testing.B) {
	p, tarSize := goTarball(b)
	b.Run("ggcr", func(b *testing.B) {
		nsPerOp := measureLayer(b, tarSize, func() (v1.Layer, error) {
			return tarball.LayerFromOpener(reRooted(p, "usr/local"))
		})
		ggcrNsPerOp = append(ggcrNsPerOp, nsPerOp)
	})
	for _, c := range []Compression{Gzip, Zstd} {
		name := "stevedore"
		if c == Zstd {
			name = "stevedore-zstd"
		}
		b.Run(name, func(b *testing.B) {
			nsPerOp := measureLayer(b, tarSize, func() (v1.Layer, error) {
				return FromTarball(p, WithRoot("/usr/local"), WithCompression(c))
			})
			if len(ggcrNsPerOp) > 0 {
				b.ReportMetric(nsPerOp/median(ggcrNsPerOp), "ratio-vs-ggcr-median")
			}
		})
	}
}

// measureLayer times making a layer with mk and consuming it as a push
// would, reports the peak heap growth, and returns the time per layer.
// Heap sampling and the GC that lets AddCleanup remove a spool file stay
// outside the timed part.
func measureLayer(b *testing.B, tarSize int64, mk func() (v1.Layer, error)) float64 {
	b.SetBytes(tarSize)
	var peak float64
	var total time.Duration
	for b.Loop() {
		b.StopTimer()
		hs := startHeap()
		b.StartTimer()
		start := time.Now()
		l, err := mk()
		require.NoError(b, err)
		consume(b, l)
		total += time.Since(start)
		b.StopTimer()
		peak = max(peak, hs.stop())
		l = nil
		runtime.GC()
		b.StartTimer()
	}
	b.ReportMetric(peak, "peak-heap-MiB")
	return float64(total.Nanoseconds()) / float64(b.N)
}

// consume reads what a push needs: Digest, DiffID, all of Compressed.
func consume(b *testing.B, l v1.Layer) {
	_, err := l.Digest()
	require.NoError(b, err, "Digest()")
	_, err = l.DiffID()
	require.NoError(b, err, "DiffID()")
	rc, err := l.Compressed()
	require.NoError(b, err, "Compressed()")
	_, err = io.Copy(io.Discard, rc)
	require.NoError(b, err, "reading Compressed()")
	require.NoError(b, rc.Close())
}

// reRooted is the opener a hand-rolled ggcr program writes: gunzip the
// tarball, prefix every name (and hardlink target) with root, add the
// root's parents.
func reRooted(p, root string) tarball.Opener {
	return func() (io.ReadCloser, error) {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		pr, pw := io.Pipe()
		go func() {
			defer f.Close()
			zr, err := gzip.NewReader(f)
			if err != nil {
				pw.CloseWithError(err)
				return
			}
			tr := tar.NewReader(zr)
			tw := tar.NewWriter(pw)
			parts := strings.Split(root, "/")
			for i := range parts {
				tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.Join(parts[:i+1], "/") + "/", Mode: 0o755})
			}
			for {
				h, err := tr.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					pw.CloseWithError(err)
					return
				}
				h.Name = root + "/" + h.Name
				if h.Typeflag == tar.TypeLink {
					h.Linkname = root + "/" + h.Linkname
				}
				if err := tw.WriteHeader(h); err != nil {
					pw.CloseWithError(err)
					return
				}
				if _, err := io.Copy(tw, tr); err != nil {
					pw.CloseWithError(err)
					return
				}
			}
			pw.CloseWithError(tw.Close())
		}()
		return pr, nil
	}
}

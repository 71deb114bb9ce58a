package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/stevedore-dev/stevedore/image"
	"github.com/stevedore-dev/stevedore/internal/itest"
	"github.com/stevedore-dev/stevedore/layer"
	"github.com/stevedore-dev/stevedore/registry"
	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

// byteTrigger counts the bytes a build reads from its source and a push
// sends, and cancels the run when the count reaches its limit.
type byteTrigger struct {
	mu       sync.Mutex
	n        int64 // bytes so far
	base     int64 // bytes of the build, once the push has started
	limit    int64 // 0: never cancel
	cancel   context.CancelFunc
	canceled time.Time
}

func (b *byteTrigger) add(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.n += n
	b.check()
}

func (b *byteTrigger) pushed(overall int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.base == 0 {
		b.base = b.n
	}
	if v := b.base + overall; v > b.n {
		b.n = v
	}
	b.check()
}

func (b *byteTrigger) check() {
	if b.limit > 0 && b.n >= b.limit && b.canceled.IsZero() {
		b.canceled = time.Now()
		b.cancel()
	}
}

func (b *byteTrigger) state() (n int64, canceled time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.n, b.canceled
}

// counting is the hook of the reads the trigger counts: small reads, so
// that cancellation points are fine-grained, each added to the count.
func (b *byteTrigger) counting() readHook {
	return readHook{chunk: 16 << 10, after: func(n int) { b.add(int64(n)) }}
}

// cancelSource is the source tree of the cancelled builds: incompressible
// content (so the pushed bytes are about the read ones), several files.
func cancelSource(seed int64) fstest.MapFS {
	r := rand.New(rand.NewSource(seed))
	m := fstest.MapFS{}
	for i, size := range []int{300 << 10, 200 << 10, 5000, 100 << 10} {
		b := make([]byte, size)
		r.Read(b)
		m[fmt.Sprintf("data/part%d.bin", i)] = &fstest.MapFile{Data: b, Mode: 0o644}
	}
	m["etc/app.conf"] = &fstest.MapFile{Data: []byte("mode=cancel\n"), Mode: 0o644}
	return m
}

// buildAndPush is the pipeline the test cancels: two layers (one cached,
// read through the counting FS; one spooled to the temp dir), an image,
// a push.
func buildAndPush(ctx context.Context, src fs.FS, cacheDir string, spool []byte, ref string, tr *byteTrigger, opts ...registry.Option) (name.Digest, v1.Image, error) {
	cached, err := layer.New(ctx, []layer.Source{layer.FS(hookedFS{src, tr.counting()}, layer.WithRoot("/srv"))}, layer.WithCache(cacheDir))
	if err != nil {
		return name.Digest{}, nil, err
	}
	spooled, err := layer.New(ctx, []layer.Source{layer.Files([]layer.File{{Path: "/opt/blob", Data: spool}})}, layer.WithCompression(layer.Zstd))
	if err != nil {
		return name.Digest{}, nil, err
	}
	img, err := image.Build(ctx, nil, image.WithLayers(cached, spooled), image.WithEntrypoint("/srv/run"))
	if err != nil {
		return name.Digest{}, nil, err
	}
	d, err := registry.Push(ctx, ref, img, append(opts, registry.WithProgress(func(p registry.Progress) { tr.pushed(p.OverallDone) }))...)
	return d, img, err
}

// TestCancelBuildAndPush cancels a build and push after N bytes (source
// bytes read, then bytes uploaded), for many N, and checks that each
// cancelled run returns promptly with context.Canceled, leaves no
// goroutine, no temp file and no half-written cache entry, and that the
// next run with the same cache succeeds with the reference digest.
// STEVEDORE_CANCEL_POINTS sets the number of points (default 12).
func TestCancelBuildAndPush(t *testing.T) {
	points := 12
	if v, err := strconv.Atoi(os.Getenv("STEVEDORE_CANCEL_POINTS")); err == nil && v > 0 {
		points = v
	}
	seed := time.Now().UnixNano()
	t.Logf("seed %d (cancellation points are jittered with it)", seed)
	rng := rand.New(rand.NewSource(seed))
	rig := newCancelRig(t)
	var slowest time.Duration
	cancelled := 0
	for i := range points {
		// Points spread over the whole run, jittered.
		n := 1 + int64(float64(rig.total)*(float64(i)+rng.Float64())/float64(points))
		took, ok := rig.cancelAt(t, i, n)
		if ok {
			cancelled++
			slowest = max(slowest, took)
		}
	}
	t.Logf("%d of %d runs were cancelled mid-way; the slowest returned %v after its cancel", cancelled, points, slowest)
	assert.GreaterOrEqual(t, cancelled, points/2, "runs cancelled mid-way: fewer than half, the points do not cover the run")
	rig.tr.CloseIdleConnections()
	checkNoTempFiles(t, -1, rig.tmp, 0)
	assert.NoError(t, goleak.Find(rig.ignore, rig.serverConns), "goroutines left at the end")
}

// cancelRig is what every run of TestCancelBuildAndPush shares: its
// inputs, the registry, the temp dir its spool files go to, and what the
// reference run (no cancel) gave.
type cancelRig struct {
	src         fs.FS
	spool       []byte
	work        string // holds one cache directory a run
	tmp         string // TMPDIR
	reg         *registrytest.Server
	tr          *http.Transport
	opts        []registry.Option
	ignore      goleak.Option // the goroutines there before the runs
	serverConns goleak.Option // the test registry's connection goroutines
	want        name.Digest   // the reference run's digest
	total       int64         // bytes the reference run read and pushed
}

// newCancelRig starts the registry and makes the reference run, checking
// that it leaves no temp file but its own live spool file.
func newCancelRig(t *testing.T) *cancelRig {
	t.Helper()
	rig := &cancelRig{src: cancelSource(1), spool: make([]byte, 150<<10), work: t.TempDir()}
	rand.New(rand.NewSource(2)).Read(rig.spool)
	rig.tmp = filepath.Join(rig.work, "tmp")
	require.NoError(t, os.Mkdir(rig.tmp, 0o755))
	// Spool files of uncached layers go to os.TempDir(): here, listed below.
	t.Setenv("TMPDIR", rig.tmp)
	var err error
	rig.reg, err = registrytest.Start()
	require.NoError(t, err)
	t.Cleanup(rig.reg.Close)
	rig.tr = rig.reg.Transport()
	t.Cleanup(rig.tr.CloseIdleConnections)
	// The registry's own connection goroutines are the server's, not the
	// client's: a closed connection's may still sleep in net/http's
	// rst-avoidance delay (500 ms) when the check runs on a busy machine.
	// A connection the client left open still shows as its persistConn
	// loops, which are not ignored.
	rig.ignore = goleak.IgnoreCurrent()
	rig.serverConns = goleak.IgnoreAnyFunction("net/http.(*conn).serve")
	rig.opts = []registry.Option{registry.WithTransport(rig.tr)}

	// The reference run: no cancellation; it also measures the bytes.
	ref := &byteTrigger{}
	want, img, err := buildAndPush(context.Background(), rig.src, filepath.Join(rig.work, "cache-ref"), rig.spool, rig.reg.Ref("ref:v1"), ref, rig.opts...)
	require.NoError(t, err, "reference run")
	rig.want = want
	rig.total, _ = ref.state()
	t.Logf("reference run: %s, %d bytes read and pushed", want.DigestStr(), rig.total)
	// The uncached layer is spooled in the temp dir (unlinked at once)
	// while the image is reachable: so no descriptor on the temp dir
	// below, but this one, means something.
	ents, err := os.ReadDir(rig.tmp)
	require.NoError(t, err)
	assert.Empty(t, ents, "temp dir after the reference run: spool files are unlinked")
	assert.Equal(t, 1, itest.OpenFDs(t, rig.tmp), "descriptors on the temp dir after the reference run: want its spool file")
	runtime.KeepAlive(img)
	return rig
}

// cancelAt makes run i, cancelled after n bytes, and checks it and the
// run after it with the same cache. It returns how long the run took to
// return after its cancel, and whether it was cancelled mid-way.
func (rig *cancelRig) cancelAt(t *testing.T, i int, n int64) (took time.Duration, cancelled bool) {
	t.Helper()
	cacheDir := filepath.Join(rig.work, fmt.Sprintf("cache-%d", i))
	repo := rig.reg.Ref(fmt.Sprintf("app%d:v1", i))
	ctx, cancel := context.WithCancel(context.Background())
	trig := &byteTrigger{limit: n, cancel: cancel}
	d, _, err := buildAndPush(ctx, rig.src, cacheDir, rig.spool, repo, trig, rig.opts...)
	returned := time.Now()
	cancel()
	_, at := trig.state()
	switch {
	case at.IsZero():
		// The run ended before N bytes: it must have succeeded.
		if assert.NoError(t, err, "n=%d: uncancelled run", n) {
			assert.Equal(t, rig.want.DigestStr(), d.DigestStr(), "n=%d: digest of the uncancelled run", n)
		}
	case err == nil:
		// Cancelled after the last byte counted: the run may finish.
		assert.Equal(t, rig.want.DigestStr(), d.DigestStr(), "n=%d: digest of the run finished despite the cancel", n)
	default:
		cancelled = true
		took = returned.Sub(at)
		assert.ErrorIs(t, err, context.Canceled, "n=%d: cancelled run", n)
		assert.LessOrEqual(t, took, 2*time.Second, "n=%d: time the run returned after the cancel: want promptly", n)
		if i%4 == 0 {
			t.Logf("n=%d: %v", n, err)
		}
	}
	rig.tr.CloseIdleConnections()
	checkNoTempFiles(t, n, rig.tmp, 1) // the reference run's spool, if still reachable
	checkCache(t, n, cacheDir)
	assert.NoError(t, goleak.Find(rig.ignore, rig.serverConns), "n=%d: goroutines left after the run", n)
	// The next run, same cache, succeeds with the same digest.
	again, _, err := buildAndPush(context.Background(), rig.src, cacheDir, rig.spool, repo, &byteTrigger{}, rig.opts...)
	if assert.NoError(t, err, "n=%d: run after the cancelled one", n) {
		assert.Equal(t, rig.want.DigestStr(), again.DigestStr(), "n=%d: digest of the run after the cancelled one", n)
	}
	checkCache(t, n, cacheDir)
	return took, cancelled
}

// checkNoTempFiles waits (collecting garbage, which removes the spool
// files of unreachable layers) until dir is empty, and fails the test if
// it is not within a few seconds.
func checkNoTempFiles(t *testing.T, n int64, dir string, maxFDs int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		runtime.GC()
		ents, err := os.ReadDir(dir)
		require.NoError(t, err)
		fds := itest.OpenFDs(t, dir)
		if len(ents) == 0 && fds <= maxFDs {
			return
		}
		if time.Now().After(deadline) {
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			t.Errorf("n=%d: temp dir still holds %q, and %d descriptors on it (want at most %d)", n, names, fds, maxFDs)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkCache checks a layer cache directory from the outside: no file in
// tmp/, every blob's content matches its name, and every entry parses and
// names a blob that is there with the entry's size.
func checkCache(t *testing.T, n int64, dir string) {
	t.Helper()
	checkCacheEntries(t, n, dir, false)
}

// checkCacheEntries is checkCache; with allowTmp, files in tmp/ (left by
// a killed writer, removed by the next cache.Open) are allowed.
func checkCacheEntries(t *testing.T, n int64, dir string, allowTmp bool) {
	t.Helper()
	if ents, err := os.ReadDir(filepath.Join(dir, "tmp")); err == nil && !allowTmp {
		assert.Empty(t, ents, "n=%d: cache tmp/ after the run", n)
	}
	blobs, err := filepath.Glob(filepath.Join(dir, "blobs", "sha256", "*"))
	require.NoError(t, err)
	for _, b := range blobs {
		data, err := os.ReadFile(b)
		require.NoError(t, err)
		assert.Equal(t, filepath.Base(b), sha256Hex(data), "n=%d: sha256 of the content of cache blob %s", n, filepath.Base(b))
	}
	entries, err := filepath.Glob(filepath.Join(dir, "entries", "*.json"))
	require.NoError(t, err)
	for _, e := range entries {
		raw, err := os.ReadFile(e)
		require.NoError(t, err)
		var m struct {
			Digest string `json:"digest"`
			Size   int64  `json:"size"`
		}
		if !assert.NoError(t, json.Unmarshal(raw, &m), "n=%d: cache entry %s (%q)", n, filepath.Base(e), raw) {
			continue
		}
		h, err := v1.NewHash(m.Digest)
		if !assert.NoError(t, err, "n=%d: cache entry %s: digest %q", n, filepath.Base(e), m.Digest) {
			continue
		}
		fi, err := os.Stat(filepath.Join(dir, "blobs", "sha256", h.Hex))
		if assert.NoError(t, err, "n=%d: cache entry %s names blob %s", n, filepath.Base(e), h) {
			assert.Equal(t, m.Size, fi.Size(), "n=%d: cache entry %s: size of blob %s", n, filepath.Base(e), h)
		}
	}
}

// TestCancelOutputs cancels WriteOCITarball, WriteDockerTarball and
// WriteOCILayout after N bytes of layer data, for several N: each returns
// context.Canceled promptly and leaves nothing in the output directory
// (no output, no temp file; a layout directory it created is removed).
func TestCancelOutputs(t *testing.T) {
	src := cancelSource(9)
	l, err := layer.FromFS(src, layer.WithTempDir(t.TempDir()))
	require.NoError(t, err)
	size, err := l.Size()
	require.NoError(t, err)
	ignore := goleak.IgnoreCurrent()
	writers := map[string]func(ctx context.Context, dir string, img v1.Image) error{
		"WriteOCITarball": func(ctx context.Context, dir string, img v1.Image) error {
			return image.WriteOCITarball(ctx, filepath.Join(dir, "out.tar"), img)
		},
		"WriteDockerTarball": func(ctx context.Context, dir string, img v1.Image) error {
			return image.WriteDockerTarball(ctx, filepath.Join(dir, "out.tar"), "example.com/app:v1", img)
		},
		"WriteOCILayout": func(ctx context.Context, dir string, img v1.Image) error {
			return image.WriteOCILayout(ctx, filepath.Join(dir, "layout"), img)
		},
	}
	for name, write := range writers {
		t.Run(name, func(t *testing.T) {
			for _, frac := range []float64{0, 0.1, 0.5, 0.9} {
				n := 1 + int64(frac*float64(size))
				ctx, cancel := context.WithCancel(context.Background())
				trig := &byteTrigger{limit: n, cancel: cancel}
				img, err := image.Build(context.Background(), nil, image.WithLayers(hookedLayer{Layer: l, hook: trig.counting()}))
				require.NoError(t, err)
				dir := t.TempDir()
				err = write(ctx, dir, img)
				returned := time.Now()
				cancel()
				_, at := trig.state()
				if assert.ErrorIs(t, err, context.Canceled, "%s cancelled after %d of %d bytes", name, n, size) {
					assert.LessOrEqual(t, returned.Sub(at), 2*time.Second, "%s: time it returned after the cancel", name)
				}
				ents, err := os.ReadDir(dir)
				require.NoError(t, err)
				assert.Empty(t, ents, "%s cancelled after %d bytes left files", name, n)
			}
		})
	}
	assert.NoError(t, goleak.Find(ignore), "goroutines left")
}

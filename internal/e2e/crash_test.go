package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/image"
	"github.com/stevedore-dev/stevedore/layer"
)

// The crash child is this test binary, run by TestCrashSafety with these
// variables set; TestMain hands it to crashChild.
const (
	crashChildEnv = "STEVEDORE_E2E_CRASH_CHILD" // "build": build with the cache, write the output
	crashCacheEnv = "STEVEDORE_E2E_CACHE"
	crashOutEnv   = "STEVEDORE_E2E_OUT"
	crashSlowEnv  = "STEVEDORE_E2E_SLOW" // "source", "output" or "both": which side is slowed down
	// crashLayoutEnv set: the output is an OCI layout directory.
	crashLayoutEnv = "STEVEDORE_E2E_LAYOUT"
)

// crashTree is the source of the crash test's cached layer: 6 MiB of
// incompressible content, so that the cache blob and the output are
// written over many writes.
func crashTree() fstest.MapFS {
	r := rand.New(rand.NewSource(3))
	m := fstest.MapFS{}
	for i := range 3 {
		b := make([]byte, 2<<20)
		r.Read(b)
		m[fmt.Sprintf("blob%d.bin", i)] = &fstest.MapFile{Data: b, Mode: 0o644}
	}
	return m
}

// slowFS sleeps on every read of a regular file of fsys, and adds the
// bytes to read when it is not nil (layer.FS reads files in parallel).
func slowFS(fsys fs.FS, delay time.Duration, read *atomic.Int64) fs.FS {
	h := slowReads(delay)
	if read != nil {
		h.after = func(n int) { read.Add(int64(n)) }
	}
	return hookedFS{fsys: fsys, hook: h}
}

// slowReads is the hook of reads that each sleep delay first.
func slowReads(delay time.Duration) readHook {
	return readHook{chunk: 64 << 10, before: func() { time.Sleep(delay) }}
}

// crashImage builds the crash test's image: a cached layer of crashTree
// (read through fsys) and a small uncached one.
func crashImage(ctx context.Context, fsys fs.FS, cacheDir string, slowOutput time.Duration) (v1.Image, error) {
	cached, err := layer.New(ctx, []layer.Source{layer.FS(fsys, layer.WithRoot("/data"))}, layer.WithCache(cacheDir))
	if err != nil {
		return nil, err
	}
	small, err := layer.FromFiles([]layer.File{{Path: "/etc/crash", Data: []byte("survived\n")}})
	if err != nil {
		return nil, err
	}
	var l v1.Layer = cached
	if slowOutput > 0 {
		l = hookedLayer{Layer: cached, hook: slowReads(slowOutput)}
	}
	return image.Build(ctx, nil, image.WithLayers(l, small), image.WithEntrypoint("/bin/true"))
}

// crashChild is the child process: it builds the image with the cache and
// writes it as an OCI tarball, slowly, until its parent kills it.
func crashChild() int {
	var srcDelay, outDelay time.Duration
	switch os.Getenv(crashSlowEnv) {
	case "source":
		srcDelay = 3 * time.Millisecond
	case "output":
		outDelay = 3 * time.Millisecond
	case "both":
		srcDelay, outDelay = 2*time.Millisecond, 2*time.Millisecond
	}
	ctx := context.Background()
	img, err := crashImage(ctx, slowFS(crashTree(), srcDelay, nil), os.Getenv(crashCacheEnv), outDelay)
	if err == nil {
		if os.Getenv(crashLayoutEnv) != "" {
			err = image.WriteOCILayout(ctx, os.Getenv(crashOutEnv), img, image.WithRefName("crash"))
		} else {
			err = image.WriteOCITarball(ctx, os.Getenv(crashOutEnv), img, image.WithRefName("crash"))
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		return 1
	}
	return 0
}

// TestCrashSafety kills a child process (this test binary) with SIGKILL
// while it writes a layer into the cache, or the image to an output file,
// or at a random moment, and checks: no file at the output path (or the
// previous one, intact), the cache still works (a rebuild is served from
// it when the blob was complete, and gives the reference digest), and the
// cache holds no partial entry. STEVEDORE_CRASH_RUNS adds random kills
// (default 2).
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary several times")
	}
	extra := 2
	if v, err := strconv.Atoi(os.Getenv("STEVEDORE_CRASH_RUNS")); err == nil && v >= 0 {
		extra = v
	}
	ref := newCrashReference(t)
	cacheDir := filepath.Join(t.TempDir(), "cache") // shared by every run, like a user's cache
	for _, r := range crashRuns(extra) {
		t.Run(r.name, func(t *testing.T) {
			outDir := t.TempDir()
			out := filepath.Join(outDir, "out.tar")
			if r.layout {
				out = filepath.Join(outDir, "layout")
			}
			if r.existing {
				require.NoError(t, os.WriteFile(out, ref.good, 0o644))
			}
			if r.wantHit {
				// The blob must be complete in the cache before the child
				// runs: fill it in-process.
				_, err := crashImage(context.Background(), ref.tree, cacheDir, 0)
				require.NoError(t, err)
			}
			finished := runAndKillChild(t, r, cacheDir, out)
			if r.layout {
				checkKilledLayout(t, out, finished, ref.want)
				return
			}
			checkKilledOutput(t, r, out, finished, ref.good)
			// No partial entry, before anything repairs the cache.
			checkCacheEntries(t, 0, cacheDir, true)
			checkRebuild(t, ref, cacheDir, out, r.wantHit)
			checkCache(t, 0, cacheDir)
		})
	}
}

// crashReference is what TestCrashSafety compares with: the source tree
// and its size, and the image built without a kill, its digest and its
// OCI tarball.
type crashReference struct {
	tree     fstest.MapFS
	treeSize int64
	want     v1.Hash
	good     []byte
}

func newCrashReference(t *testing.T) crashReference {
	t.Helper()
	ref := crashReference{tree: crashTree()}
	for _, f := range ref.tree {
		ref.treeSize += int64(len(f.Data))
	}
	ctx := context.Background()
	img, err := crashImage(ctx, ref.tree, t.TempDir(), 0)
	require.NoError(t, err)
	ref.want = digestOf(t, img)
	goodOut := filepath.Join(t.TempDir(), "good.tar")
	require.NoError(t, image.WriteOCITarball(ctx, goodOut, img, image.WithRefName("crash")))
	ref.good, err = os.ReadFile(goodOut)
	require.NoError(t, err)
	return ref
}

// crashRun is one kill of TestCrashSafety.
type crashRun struct {
	name     string
	slow     string        // the child's crashSlowEnv
	existing bool          // an output file is there before the child starts
	killWhen string        // "cache", "output", "layout": a temp file of that write has data; "": after delay
	delay    time.Duration // for killWhen ""
	wantHit  bool          // the rebuild must be served from the cache
	layout   bool          // the output is an OCI layout directory
}

// crashRuns is a kill during each write, then extra kills at random
// moments.
func crashRuns(extra int) []crashRun {
	runs := []crashRun{
		{name: "during the cache write", slow: "source", killWhen: "cache"},
		{name: "during the output write", slow: "output", killWhen: "output", wantHit: true},
		{name: "during the output write over an existing file", slow: "output", existing: true, killWhen: "output", wantHit: true},
		{name: "during an OCI layout write", slow: "output", layout: true, killWhen: "layout", wantHit: true},
	}
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	for i := range extra {
		runs = append(runs, crashRun{name: fmt.Sprintf("at random %d", i), slow: "both", delay: time.Duration(rng.Int63n(int64(time.Second)))})
	}
	return runs
}

// killPoint says whether the child of run r, writing to out, has reached
// the moment to kill it, and describes that moment.
func (r crashRun) killPoint(cacheDir, out string, since time.Duration) string {
	switch {
	case r.killWhen == "cache":
		return growing(filepath.Join(cacheDir, "tmp", "blob-*.tmp"))
	case r.killWhen == "output":
		return growing(filepath.Join(filepath.Dir(out), ".out.tar.tmp-*"))
	case r.killWhen == "layout":
		return growing(filepath.Join(out, "blobs", "sha256", ".*.tmp-*"))
	case since >= r.delay:
		return fmt.Sprintf("after %v", r.delay.Round(time.Millisecond))
	}
	return ""
}

// runAndKillChild starts the crash child for run r and kills it at r's
// kill point. It reports whether the child finished its write first.
func runAndKillChild(t *testing.T, r crashRun, cacheDir, out string) (finished bool) {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"=build", crashCacheEnv+"="+cacheDir, crashOutEnv+"="+out, crashSlowEnv+"="+r.slow)
	if r.layout {
		cmd.Env = append(cmd.Env, crashLayoutEnv+"=1")
	}
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	start := time.Now()
	for {
		select {
		case err := <-exited:
			if r.killWhen != "" {
				t.Fatalf("the child exited (%v) before it could be killed %s; stderr:\n%s", err, r.name, stderr.String())
			}
			t.Logf("the child finished before the kill at %v", r.delay)
			return cmd.ProcessState.Success() // nothing to kill: check the same things
		case <-time.After(2 * time.Millisecond):
		}
		if what := r.killPoint(cacheDir, out, time.Since(start)); what != "" {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			err := <-exited
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
				t.Logf("the child was not killed by the signal (%v): it had finished", err)
			} else {
				t.Logf("killed the child %s", what)
			}
			return cmd.ProcessState.Success()
		}
		if time.Since(start) > time.Minute {
			_ = cmd.Process.Kill()
			<-exited
			t.Fatalf("the child never reached the kill point; stderr:\n%s", stderr.String())
		}
	}
}

// checkKilledOutput checks the output path after the kill: nothing, or
// the previous file intact (or, when the child finished, the complete new
// one), and nothing beside it but the atomic write's temp file.
func checkKilledOutput(t *testing.T, r crashRun, out string, finished bool, good []byte) {
	t.Helper()
	b, err := os.ReadFile(out)
	switch {
	case finished:
		assert.True(t, bytes.Equal(b, good), "the child finished, but %s is not the reference output (%d bytes, %v)", out, len(b), err)
	case r.existing:
		assert.True(t, bytes.Equal(b, good), "after the kill %s is not the previous file (%d bytes, %v)", out, len(b), err)
	case err == nil && bytes.Equal(b, good):
		t.Logf("the kill came after the rename: %s is the complete output", out)
	case err == nil:
		t.Errorf("after the kill there is a file of %d bytes at the output path %s", len(b), out)
	}
	ents, err := os.ReadDir(filepath.Dir(out))
	require.NoError(t, err)
	for _, e := range ents {
		if e.Name() == "out.tar" {
			continue
		}
		if assert.True(t, strings.HasPrefix(e.Name(), ".out.tar.tmp-"), "unexpected file %s beside the output", e.Name()) {
			t.Logf("left by the kill: %s (the atomic write's temp file)", e.Name())
		}
	}
}

// checkRebuild rebuilds the image with the cache after the kill: it has
// the reference digest, reads the source once when the cache had the blob
// (wantHit), and writes the reference output.
func checkRebuild(t *testing.T, ref crashReference, cacheDir, out string, wantHit bool) {
	t.Helper()
	ctx := context.Background()
	var read atomic.Int64
	img, err := crashImage(ctx, slowFS(ref.tree, 0, &read), cacheDir, 0)
	require.NoError(t, err, "rebuild with the cache after the kill")
	assert.Equal(t, ref.want, digestOf(t, img), "digest of the rebuild with the cache after the kill")
	if wantHit {
		assert.Equal(t, ref.treeSize, read.Load(), "bytes of the source the rebuild read: a cache hit reads it once, for the key")
	}
	require.NoError(t, image.WriteOCITarball(ctx, out, img, image.WithRefName("crash")), "writing the output after the kill")
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(b, ref.good), "output written after the kill differs from the reference output")
}

// growing returns a description of the first file matching pattern that
// holds data, or "".
func growing(pattern string) string {
	ms, _ := filepath.Glob(pattern)
	for _, m := range ms {
		if fi, err := os.Stat(m); err == nil && fi.Size() > 0 {
			return fmt.Sprintf("while %s held %d bytes", filepath.Base(m), fi.Size())
		}
	}
	return ""
}

// checkKilledLayout checks an OCI layout whose writer was killed: no
// index.json (so no tool sees an image), or, if the writer finished, the
// image; then a new write into the same directory completes.
func checkKilledLayout(t *testing.T, dir string, finished bool, want v1.Hash) {
	t.Helper()
	if finished {
		assert.FileExists(t, filepath.Join(dir, "index.json"), "the child finished: the layout's index")
	} else {
		assert.NoFileExists(t, filepath.Join(dir, "index.json"), "after the kill: the layout's index")
	}
	img, err := crashImage(context.Background(), crashTree(), t.TempDir(), 0)
	require.NoError(t, err)
	require.NoError(t, image.WriteOCILayout(context.Background(), dir, img, image.WithRefName("crash")), "WriteOCILayout into the killed writer's directory")
	l, err := image.ReadOCILayout(dir)
	require.NoError(t, err)
	got, err := l.Image("crash")
	require.NoError(t, err)
	assert.Equal(t, want, digestOf(t, got), "image of the layout written after the kill")
}

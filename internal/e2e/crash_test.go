package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

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

// slowFS sleeps on every read of a regular file, and counts the bytes.
type slowFS struct {
	fsys  fs.FS
	delay time.Duration
	read  *int64
}

func (s slowFS) Open(name string) (fs.File, error) {
	f, err := s.fsys.Open(name)
	if err != nil {
		return nil, err
	}
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		return &slowFile{File: f, s: s}, nil
	}
	return f, nil
}

type slowFile struct {
	fs.File
	s slowFS
}

func (f *slowFile) Read(p []byte) (int, error) {
	if len(p) > 64<<10 {
		p = p[:64<<10]
	}
	time.Sleep(f.s.delay)
	n, err := f.File.Read(p)
	if f.s.read != nil {
		*f.s.read += int64(n)
	}
	return n, err
}

// slowLayer serves its blob slowly, so that an output write takes time.
type slowLayer struct {
	v1.Layer
	delay time.Duration
}

// CreatedBy keeps the wrapped layer's history text, so the image is the
// one built without the wrapper.
func (l slowLayer) CreatedBy() string {
	if c, ok := l.Layer.(interface{ CreatedBy() string }); ok {
		return c.CreatedBy()
	}
	return ""
}

func (l slowLayer) Compressed() (io.ReadCloser, error) {
	rc, err := l.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	return &slowReader{rc: rc, delay: l.delay}, nil
}

type slowReader struct {
	rc    io.ReadCloser
	delay time.Duration
}

func (r *slowReader) Read(p []byte) (int, error) {
	if len(p) > 64<<10 {
		p = p[:64<<10]
	}
	time.Sleep(r.delay)
	return r.rc.Read(p)
}

func (r *slowReader) Close() error { return r.rc.Close() }

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
		l = slowLayer{Layer: cached, delay: slowOutput}
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
	img, err := crashImage(ctx, slowFS{fsys: crashTree(), delay: srcDelay}, os.Getenv(crashCacheEnv), outDelay)
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
	tree := crashTree()
	var treeSize int64
	for _, f := range tree {
		treeSize += int64(len(f.Data))
	}
	ctx := context.Background()
	refImg, err := crashImage(ctx, tree, t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	want := digestOf(t, refImg)
	goodOut := filepath.Join(t.TempDir(), "good.tar")
	if err := image.WriteOCITarball(ctx, goodOut, refImg, image.WithRefName("crash")); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(goodOut)
	if err != nil {
		t.Fatal(err)
	}

	type run struct {
		name     string
		slow     string
		existing bool          // an output file is there before the child starts
		killWhen string        // "cache": a cache temp file has data; "output": the output temp file has data; "": after delay
		delay    time.Duration // for killWhen ""
		wantHit  bool          // the rebuild must be served from the cache
		layout   bool          // the output is an OCI layout directory
	}
	runs := []run{
		{name: "during the cache write", slow: "source", killWhen: "cache"},
		{name: "during the output write", slow: "output", killWhen: "output", wantHit: true},
		{name: "during the output write over an existing file", slow: "output", existing: true, killWhen: "output", wantHit: true},
	}
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	runs = append(runs, run{name: "during an OCI layout write", slow: "output", layout: true, killWhen: "layout", wantHit: true})
	for i := range extra {
		runs = append(runs, run{name: fmt.Sprintf("at random %d", i), slow: "both", delay: time.Duration(rng.Int63n(int64(time.Second)))})
	}
	cacheDir := filepath.Join(t.TempDir(), "cache") // shared by every run, like a user's cache
	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			outDir := t.TempDir()
			out := filepath.Join(outDir, "out.tar")
			if r.existing {
				if err := os.WriteFile(out, good, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if r.wantHit {
				// The blob must be complete in the cache before the child
				// runs: fill it in-process.
				if _, err := crashImage(ctx, tree, cacheDir, 0); err != nil {
					t.Fatal(err)
				}
			}
			var stderr bytes.Buffer
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			if r.layout {
				out = filepath.Join(outDir, "layout")
			}
			cmd.Env = append(os.Environ(), crashChildEnv+"=build", crashCacheEnv+"="+cacheDir, crashOutEnv+"="+out, crashSlowEnv+"="+r.slow)
			if r.layout {
				cmd.Env = append(cmd.Env, crashLayoutEnv+"=1")
			}
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			start := time.Now()
			killed, what := false, ""
			for !killed {
				select {
				case err := <-exited:
					if r.killWhen != "" {
						t.Fatalf("the child exited (%v) before it could be killed %s; stderr:\n%s", err, r.name, stderr.String())
					}
					t.Logf("the child finished before the kill at %v", r.delay)
					killed = true // nothing to kill: check the same things
					continue
				case <-time.After(2 * time.Millisecond):
				}
				switch {
				case r.killWhen == "cache":
					what = growing(filepath.Join(cacheDir, "tmp", "blob-*.tmp"))
				case r.killWhen == "output":
					what = growing(filepath.Join(outDir, ".out.tar.tmp-*"))
				case r.killWhen == "layout":
					what = growing(filepath.Join(out, "blobs", "sha256", ".*.tmp-*"))
				case time.Since(start) >= r.delay:
					what = fmt.Sprintf("after %v", r.delay.Round(time.Millisecond))
				}
				if what != "" {
					cmd.Process.Signal(syscall.SIGKILL)
					err := <-exited
					if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
						t.Logf("the child was not killed by the signal (%v): it had finished", err)
					} else {
						t.Logf("killed the child %s", what)
					}
					killed = true
				}
				if time.Since(start) > time.Minute {
					cmd.Process.Kill()
					<-exited
					t.Fatalf("the child never reached the kill point; stderr:\n%s", stderr.String())
				}
			}

			finished := cmd.ProcessState.Success()
			if r.layout {
				checkKilledLayout(t, out, finished, want)
				return
			}
			// The output path: nothing, or the previous file intact (or,
			// when the child finished, the complete new one).
			b, err := os.ReadFile(out)
			switch {
			case finished:
				if !bytes.Equal(b, good) {
					t.Errorf("the child finished, but %s is not the reference output (%d bytes, %v)", out, len(b), err)
				}
			case r.existing:
				if !bytes.Equal(b, good) {
					t.Errorf("after the kill %s is not the previous file (%d bytes, %v)", out, len(b), err)
				}
			case err == nil && bytes.Equal(b, good):
				t.Logf("the kill came after the rename: %s is the complete output", out)
			case err == nil:
				t.Errorf("after the kill there is a file of %d bytes at the output path %s", len(b), out)
			}
			ents, _ := os.ReadDir(outDir)
			for _, e := range ents {
				if e.Name() != "out.tar" && !strings.HasPrefix(e.Name(), ".out.tar.tmp-") {
					t.Errorf("unexpected file %s beside the output", e.Name())
				} else if e.Name() != "out.tar" {
					t.Logf("left by the kill: %s (the atomic write's temp file)", e.Name())
				}
			}

			// No partial entry, before anything repairs the cache.
			checkCacheEntries(t, 0, cacheDir, true)
			// The cache works, and is used when it had the blob.
			var read int64
			img, err := crashImage(ctx, slowFS{fsys: tree, read: &read}, cacheDir, 0)
			if err != nil {
				t.Fatalf("rebuild with the cache after the kill = %v", err)
			}
			if got := digestOf(t, img); got != want {
				t.Errorf("rebuild with the cache after the kill: digest %s, want %s", got, want)
			}
			if r.wantHit && read != treeSize {
				t.Errorf("rebuild read %d bytes of the source, want %d (a cache hit reads it once, for the key)", read, treeSize)
			}
			if err := image.WriteOCITarball(ctx, out, img, image.WithRefName("crash")); err != nil {
				t.Fatalf("writing the output after the kill = %v", err)
			}
			if b, _ := os.ReadFile(out); !bytes.Equal(b, good) {
				t.Errorf("output written after the kill differs from the reference output")
			}
			checkCache(t, 0, cacheDir)
		})
	}
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
	_, err := os.Stat(filepath.Join(dir, "index.json"))
	switch {
	case finished && err != nil:
		t.Errorf("the child finished, but the layout has no index.json: %v", err)
	case !finished && err == nil:
		t.Errorf("after the kill the layout %s has an index.json", dir)
	}
	img, err := crashImage(context.Background(), crashTree(), t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := image.WriteOCILayout(context.Background(), dir, img, image.WithRefName("crash")); err != nil {
		t.Fatalf("WriteOCILayout into the killed writer's directory = %v", err)
	}
	l, err := image.ReadOCILayout(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := l.Image("crash")
	if err != nil {
		t.Fatal(err)
	}
	if d := digestOf(t, got); d != want {
		t.Errorf("layout written after the kill holds %s, want %s", d, want)
	}
}

package cache

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// sharedKey and sharedData give the key and blob of entry i of the
// concurrency tests: keys i and i+n/2 share a blob.
func sharedKey(i int) string { return fmt.Sprintf("key-%02d", i) }

func sharedData(i, n int) []byte { return content(uint64(1000+i%(n/2)), 32<<10+(i%(n/2))*1111) }

// exercise gets or writes every entry of 0..n-1 in an order depending on
// worker, as a layer build would, and checks what it reads. With prune set
// (a limited cache), entries may vanish at any time, but a corrupt or wrong
// blob is never read.
func exercise(c *Cache, worker, n int, prune bool) error {
	for round := range 2 {
		for j := range n {
			i := (j*7 + worker*3 + round) % n
			key, want := sharedKey(i), sharedData(i, n)
			e, err := c.Get(key)
			if errors.Is(err, ErrMiss) {
				w, err := c.NewWriter()
				if err != nil {
					return err
				}
				// Write in pieces, so writers interleave.
				for p := want; len(p) > 0; p = p[min(len(p), 4096):] {
					if _, err := w.Write(p[:min(len(p), 4096)]); err != nil {
						w.Abort()
						return err
					}
				}
				e, err = w.Commit(key, metaOf(nil, want))
				if err != nil {
					return err
				}
			} else if err != nil {
				return err
			}
			got, err := readAll(e)
			if prune && errors.Is(err, ErrMiss) {
				continue
			}
			if err != nil {
				return fmt.Errorf("worker %d: reading %s: %w", worker, key, err)
			}
			if !slices.Equal(got, want) {
				return fmt.Errorf("worker %d: %s holds %d wrong bytes", worker, key, len(got))
			}
		}
	}
	return nil
}

// checkConsistent checks that every entry left in dir is valid and that no
// temporary or orphan file is left.
func checkConsistent(t *testing.T, dir string, n int, all bool) {
	t.Helper()
	c := open(t, dir)
	found := 0
	for i := range n {
		e, err := c.Get(sharedKey(i))
		if errors.Is(err, ErrMiss) && !all {
			continue
		}
		if err != nil {
			t.Fatalf("Get(%s) = %v", sharedKey(i), err)
		}
		found++
		if err := e.Verify(); err != nil {
			t.Errorf("Get(%s).Verify() = %v", sharedKey(i), err)
		}
	}
	if got := ls(t, dir, "tmp"); len(got) != 0 {
		t.Errorf("tmp = %v, want empty", got)
	}
	if got := len(ls(t, dir, "entries")); got != found {
		t.Errorf("entries = %d, want the %d valid ones", got, found)
	}
	if all && len(ls(t, dir, "blobs/sha256")) != n/2 {
		t.Errorf("blobs = %d, want %d (keys i and i+%d share one)", len(ls(t, dir, "blobs/sha256")), n/2, n/2)
	}
	if err := c.Prune(1 << 40); err != nil { // removes orphans
		t.Fatal(err)
	}
	if got := len(ls(t, dir, "entries")); got != found {
		t.Errorf("Prune removed valid entries: %d left, want %d", got, found)
	}
}

func TestConcurrentGoroutines(t *testing.T) {
	const n, workers = 16, 8
	tests := []struct {
		name  string
		opts  []Option
		prune bool
	}{
		{"unbounded", nil, false},
		{"limited", []Option{WithLimit(3 * 40 << 10)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			shared := open(t, dir, tt.opts...)
			var wg sync.WaitGroup
			errs := make([]error, workers)
			for w := range workers {
				wg.Go(func() {
					c := shared // even workers share a Cache, odd ones open their own
					if w%2 == 1 {
						var err error
						if c, err = Open(dir, tt.opts...); err != nil {
							errs[w] = err
							return
						}
					}
					errs[w] = exercise(c, w, n, tt.prune)
				})
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
			checkConsistent(t, dir, n, !tt.prune)
		})
	}
}

const helperEnv = "STEVEDORE_CACHE_HELPER"

// TestHelperProcess is not a test: it is the body of the child processes
// started by the tests below, selected by the environment.
func TestHelperProcess(t *testing.T) {
	role := os.Getenv(helperEnv)
	if role == "" {
		t.Skip("helper process for other tests")
	}
	dir := os.Getenv(helperEnv + "_DIR")
	err := helper(role, dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

func helper(role, dir string) error {
	switch role {
	case "exercise", "exercise-limited":
		worker, _ := strconv.Atoi(os.Getenv(helperEnv + "_WORKER"))
		var opts []Option
		if role == "exercise-limited" {
			opts = append(opts, WithLimit(3*40<<10))
		}
		c, err := Open(dir, opts...)
		if err != nil {
			return err
		}
		return exercise(c, worker, 16, role == "exercise-limited")

	case "crash-write":
		// Write part of a large blob, tell the parent, and keep writing
		// until killed.
		c, err := Open(dir)
		if err != nil {
			return err
		}
		w, err := c.NewWriter()
		if err != nil {
			return err
		}
		data := content(42, 8<<20)
		if _, err := w.Write(data); err != nil {
			return err
		}
		fmt.Println("ready")
		for {
			if _, err := w.Write(data[:4096]); err != nil {
				return err
			}
			time.Sleep(time.Millisecond)
		}

	case "crash-commit":
		// Stop, holding the lock, between the blob's rename and the
		// metadata's, until killed.
		testHookCommit = func() {
			fmt.Println("ready")
			select {}
		}
		c, err := Open(dir)
		if err != nil {
			return err
		}
		data := content(43, 1<<20)
		w, err := c.NewWriter()
		if err != nil {
			return err
		}
		if _, err := w.Write(data); err != nil {
			return err
		}
		_, err = w.Commit("crash", metaOf(nil, data))
		return fmt.Errorf("commit returned %v", err)
	}
	return fmt.Errorf("unknown helper role %q", role)
}

func helperCmd(t *testing.T, role, dir string, env ...string) *exec.Cmd {
	t.Helper()
	if testing.Short() {
		t.Skip("starts child processes")
	}
	if !haveLocks {
		t.Skip("no file locks on this platform: processes cannot share a cache")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+role, helperEnv+"_DIR="+dir)
	cmd.Env = append(cmd.Env, env...)
	return cmd
}

func TestConcurrentProcesses(t *testing.T) {
	const procs = 4
	for _, role := range []string{"exercise", "exercise-limited"} {
		t.Run(role, func(t *testing.T) {
			dir := t.TempDir()
			cmds := make([]*exec.Cmd, procs)
			outs := make([]strings.Builder, procs)
			for i := range procs {
				cmds[i] = helperCmd(t, role, dir, helperEnv+"_WORKER="+strconv.Itoa(i))
				cmds[i].Stdout, cmds[i].Stderr = &outs[i], &outs[i]
				if err := cmds[i].Start(); err != nil {
					t.Fatal(err)
				}
			}
			for i, cmd := range cmds {
				if err := cmd.Wait(); err != nil {
					t.Errorf("child %d: %v\n%s", i, err, outs[i].String())
				}
			}
			checkConsistent(t, dir, 16, role == "exercise")
		})
	}
}

// startAndKill starts a helper, waits for its "ready" line, and kills it
// with SIGKILL.
func startAndKill(t *testing.T, role, dir string) {
	t.Helper()
	cmd := helperCmd(t, role, dir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if line != "ready\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child said %q, %v; stderr:\n%s", line, err, stderr.String())
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("child exited with %v, want killed; stderr:\n%s", err, stderr.String())
	}
}

// openWithin opens dir, failing if that takes long (a lock left held).
func openWithin(t *testing.T, dir string, opts ...Option) *Cache {
	t.Helper()
	type result struct {
		c   *Cache
		err error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := Open(dir, opts...)
		ch <- result{c, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("Open(%s) = %v", dir, r.err)
		}
		return r.c
	case <-time.After(30 * time.Second):
		t.Fatalf("Open(%s) still blocked after 30s: lock left held by the dead process?", dir)
		return nil
	}
}

func TestCrashMidWrite(t *testing.T) {
	dir := t.TempDir()
	open(t, dir)
	startAndKill(t, "crash-write", dir)
	tmp := ls(t, dir, "tmp")
	if len(tmp) != 1 {
		t.Fatalf("tmp after the crash = %v, want the dead writer's file", tmp)
	}
	fi, err := os.Stat(filepath.Join(dir, "tmp", tmp[0]))
	if err != nil || fi.Size() < 8<<20 {
		t.Fatalf("stat of the dead writer's file = %v, %v; want at least 8 MiB", fi, err)
	}
	// The default maximum age is a day: the file goes because no live
	// writer holds it, not because it is old.
	c := openWithin(t, dir)
	if got := ls(t, dir, "tmp"); len(got) != 0 {
		t.Errorf("tmp after Open = %v, want the abandoned file removed", got)
	}
	mustMiss(t, c, "crash")
	data := content(42, 8<<20)
	put(t, c, "crash", data)
	mustHit(t, c, "crash", data)
}

func TestCrashMidCommit(t *testing.T) {
	dir := t.TempDir()
	open(t, dir)
	startAndKill(t, "crash-commit", dir)
	if got := len(ls(t, dir, "blobs/sha256")); got != 1 {
		t.Fatalf("blobs after the crash = %d, want the renamed one", got)
	}
	c := openWithin(t, dir) // the dead process held the lock
	mustMiss(t, c, "crash")
	if err := c.Prune(1 << 40); err != nil {
		t.Fatal(err)
	}
	if got := ls(t, dir, "blobs/sha256"); len(got) != 0 {
		t.Errorf("blobs after Prune = %v, want the orphan removed", got)
	}
	data := content(43, 1<<20)
	put(t, c, "crash", data)
	mustHit(t, c, "crash", data)
	if got := ls(t, dir, "tmp"); len(got) != 0 {
		t.Errorf("tmp = %v, want empty", got)
	}
}

// TestLiveWriterSurvivesOpen: Open must not remove the temporary file of a
// writer that is still alive, unless it is older than WithTempMaxAge.
func TestLiveWriterSurvivesOpen(t *testing.T) {
	if !haveLocks {
		t.Skip("no file locks on this platform: live writers cannot be told from dead ones")
	}
	data := []byte("written while another Open cleans up")
	tests := []struct {
		name   string
		maxAge time.Duration
		commit bool // Commit succeeds
	}{
		{"young", time.Hour, true},
		{"older than the max age", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			c := open(t, dir)
			w, err := c.NewWriter()
			if err != nil {
				t.Fatal(err)
			}
			defer w.Abort()
			w.Write(data[:10])
			time.Sleep(time.Millisecond)
			open(t, dir, WithTempMaxAge(tt.maxAge))
			w.Write(data[10:])
			_, err = w.Commit("k", metaOf(t, data))
			if (err == nil) != tt.commit {
				t.Fatalf("Commit after Open(WithTempMaxAge(%v)) = %v, want success %v", tt.maxAge, err, tt.commit)
			}
			if tt.commit {
				mustHit(t, c, "k", data)
			} else {
				mustMiss(t, c, "k")
			}
			if got := ls(t, dir, "tmp"); len(got) != 0 {
				t.Errorf("tmp = %v, want empty", got)
			}
		})
	}
}

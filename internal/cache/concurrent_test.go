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

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
		require.NoError(t, err, "Get(%s)", sharedKey(i))
		found++
		assert.NoError(t, e.Verify(), "Get(%s).Verify()", sharedKey(i))
	}
	assert.Empty(t, ls(t, dir, "tmp"), "tmp")
	assert.Len(t, ls(t, dir, "entries"), found, "entries: want the valid ones")
	if all {
		assert.Len(t, ls(t, dir, "blobs/sha256"), n/2, "blobs: keys i and i+%d share one", n/2)
	}
	require.NoError(t, c.Prune(1<<40)) // removes orphans
	assert.Len(t, ls(t, dir, "entries"), found, "entries after Prune: want the valid ones kept")
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
			require.NoError(t, errors.Join(errs...))
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
				require.NoError(t, cmds[i].Start())
			}
			for i, cmd := range cmds {
				assert.NoError(t, cmd.Wait(), "child %d:\n%s", i, outs[i].String())
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
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	line, err := bufio.NewReader(out).ReadString('\n')
	if line != "ready\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child said %q, %v; stderr:\n%s", line, err, stderr.String())
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	require.ErrorContains(t, cmd.Wait(), "killed", "the child's exit; stderr:\n%s", stderr.String())
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
		require.NoError(t, r.err, "Open(%s)", dir)
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
	require.Len(t, tmp, 1, "tmp after the crash: want the dead writer's file")
	fi, err := os.Stat(filepath.Join(dir, "tmp", tmp[0]))
	require.NoError(t, err, "stat of the dead writer's file")
	require.GreaterOrEqual(t, fi.Size(), int64(8<<20), "size of the dead writer's file")
	// The default maximum age is a day: the file goes because no live
	// writer holds it, not because it is old.
	c := openWithin(t, dir)
	assert.Empty(t, ls(t, dir, "tmp"), "tmp after Open: want the abandoned file removed")
	mustMiss(t, c, "crash")
	data := content(42, 8<<20)
	put(t, c, "crash", data)
	mustHit(t, c, "crash", data)
}

func TestCrashMidCommit(t *testing.T) {
	dir := t.TempDir()
	open(t, dir)
	startAndKill(t, "crash-commit", dir)
	require.Len(t, ls(t, dir, "blobs/sha256"), 1, "blobs after the crash: want the renamed one")
	c := openWithin(t, dir) // the dead process held the lock
	mustMiss(t, c, "crash")
	require.NoError(t, c.Prune(1<<40))
	assert.Empty(t, ls(t, dir, "blobs/sha256"), "blobs after Prune: want the orphan removed")
	data := content(43, 1<<20)
	put(t, c, "crash", data)
	mustHit(t, c, "crash", data)
	assert.Empty(t, ls(t, dir, "tmp"), "tmp")
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
			require.NoError(t, err)
			defer w.Abort()
			w.Write(data[:10])
			time.Sleep(time.Millisecond)
			open(t, dir, WithTempMaxAge(tt.maxAge))
			w.Write(data[10:])
			_, err = w.Commit("k", metaOf(t, data))
			if tt.commit {
				require.NoError(t, err, "Commit after Open(WithTempMaxAge(%v))", tt.maxAge)
				mustHit(t, c, "k", data)
			} else {
				require.Error(t, err, "Commit after Open(WithTempMaxAge(%v))", tt.maxAge)
				mustMiss(t, c, "k")
			}
			assert.Empty(t, ls(t, dir, "tmp"), "tmp")
		})
	}
}

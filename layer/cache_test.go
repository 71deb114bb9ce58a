package layer

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stevedore-dev/stevedore/internal/tartest"
)

func countBuilds(t *testing.T) *int {
	n := new(int)
	testHookProduce = func() { *n++ }
	t.Cleanup(func() { testHookProduce = nil })
	return n
}

func TestCacheDir(t *testing.T) {
	cacheDir := t.TempDir()
	d := t.TempDir()
	tree(t, d, "a", "sub/b", "l -> a")
	builds := countBuilds(t)
	build := func() string {
		t.Helper()
		l, err := FromDir(d, WithRoot("/app"), WithCache(cacheDir))
		if err != nil {
			t.Fatal(err)
		}
		check(t, l)
		dg, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return dg.String()
	}
	first := build()
	if *builds != 1 {
		t.Fatalf("first build: %d builds, want 1", *builds)
	}
	if again := build(); again != first || *builds != 1 {
		t.Errorf("unchanged dir: digest %s (first %s), %d builds; want a hit with no build", again, first, *builds)
	}
	// Uncached, the same layer has the same digest.
	l, _ := FromDir(d, WithRoot("/app"))
	if dg, _ := l.Digest(); dg.String() != first {
		t.Errorf("uncached digest %s, cached %s", dg, first)
	}
	*builds = 0

	// A content change with the same size and mtime is still seen (ctime).
	p := filepath.Join(d, "a")
	fi, _ := os.Stat(p)
	os.WriteFile(p, []byte("A"), 0o644)
	os.Chtimes(p, fi.ModTime(), fi.ModTime())
	changed := build()
	if changed == first || *builds != 1 {
		t.Errorf("changed file: digest %s (first %s), %d builds; want a rebuild with a new digest", changed, first, *builds)
	}
	// Options are part of the key.
	*builds = 0
	l, _ = FromDir(d, WithRoot("/other"), WithCache(cacheDir))
	l.Digest()
	if *builds != 1 {
		t.Errorf("other root: %d builds, want 1 (a miss)", *builds)
	}
}

// TestCacheCorrupt: a corrupted entry is detected before its bytes are
// served, rebuilt, and the right bytes are served.
func TestCacheCorrupt(t *testing.T) {
	cacheDir := t.TempDir()
	files := []File{{Path: "f", Data: []byte("content")}}
	l, _ := FromFiles(files, WithCache(cacheDir))
	want, err := l.Digest()
	if err != nil {
		t.Fatal(err)
	}
	// Corrupt every blob, keeping the size.
	blobs, _ := filepath.Glob(filepath.Join(cacheDir, "blobs", "sha256", "*"))
	if len(blobs) == 0 {
		t.Fatal("no cache blobs")
	}
	for _, b := range blobs {
		data, _ := os.ReadFile(b)
		data[len(data)/2] ^= 0xff
		os.WriteFile(b, data, 0o644)
	}
	builds := countBuilds(t)
	l, _ = FromFiles(files, WithCache(cacheDir))
	if got, _ := l.Digest(); got != want || *builds != 0 {
		t.Fatalf("hit: Digest() = %s after %d builds, want %s from the entry", got, *builds, want)
	}
	check(t, l) // serves Compressed: verified, rebuilt, correct
	if *builds != 1 {
		t.Errorf("corrupt entry: %d rebuilds, want 1", *builds)
	}
	// Truncated entries too.
	blobs, _ = filepath.Glob(filepath.Join(cacheDir, "blobs", "sha256", "*"))
	for _, b := range blobs {
		os.Truncate(b, 3)
	}
	l, _ = FromFiles(files, WithCache(cacheDir))
	check(t, l)
}

// TestCacheURLWithoutSum: a URL without WithSHA256 bypasses the cache.
func TestCacheTarballKey(t *testing.T) {
	cacheDir := t.TempDir()
	p := tartest.TempFile(t, "x.tar", tartest.Bytes(t, tartest.File("f", "one")))
	builds := countBuilds(t)
	for range 2 {
		l, _ := FromTarball(p, WithCache(cacheDir))
		check(t, l)
	}
	if *builds != 1 {
		t.Errorf("unchanged tarball: %d builds, want 1", *builds)
	}
	os.WriteFile(p, tartest.Bytes(t, tartest.File("f", "two")), 0o644)
	os.Chtimes(p, time.Now().Add(time.Hour), time.Now().Add(time.Hour))
	l, _ := FromTarball(p, WithCache(cacheDir))
	check(t, l)
	if got := summary(entries(t, l)); got != "f 0 644 \"two\"\n" || *builds != 2 {
		t.Errorf("changed tarball: entries %s after %d builds, want the new content from a rebuild", got, *builds)
	}
}

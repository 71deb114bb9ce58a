package layer

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
	build := func(root string) string {
		t.Helper()
		l, err := FromDir(d, WithRoot(root), WithCache(cacheDir))
		require.NoError(t, err)
		check(t, l)
		return digestString(t, l)
	}
	first := build("/app")
	require.Equal(t, 1, *builds, "builds of the first build")
	assert.Equal(t, first, build("/app"), "digest of the unchanged dir")
	assert.Equal(t, 1, *builds, "builds after the unchanged dir: want a hit")
	// Uncached, the same layer has the same digest.
	l, err := FromDir(d, WithRoot("/app"))
	require.NoError(t, err)
	assert.Equal(t, first, digestString(t, l), "uncached digest")
	*builds = 0

	// A content change with the same size and mtime is still seen (ctime).
	p := filepath.Join(d, "a")
	fi, err := os.Stat(p)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(p, []byte("A"), 0o644))
	require.NoError(t, os.Chtimes(p, fi.ModTime(), fi.ModTime()))
	assert.NotEqual(t, first, build("/app"), "digest of the changed file")
	assert.Equal(t, 1, *builds, "builds after the changed file: want a rebuild")
	// Options are part of the key.
	*builds = 0
	build("/other")
	assert.Equal(t, 1, *builds, "builds with another root: want a miss")
}

// digestString is l.Digest() as a string.
func digestString(t testing.TB, l interface{ Digest() (v1.Hash, error) }) string {
	t.Helper()
	d, err := l.Digest()
	require.NoError(t, err, "Digest()")
	return d.String()
}

// TestCacheCorrupt: a corrupted entry is detected before its bytes are
// served, rebuilt, and the right bytes are served.
func TestCacheCorrupt(t *testing.T) {
	cacheDir := t.TempDir()
	files := []File{{Path: "f", Data: []byte("content")}}
	l, err := FromFiles(files, WithCache(cacheDir))
	require.NoError(t, err)
	want := digestString(t, l)
	// Corrupt every blob, keeping the size.
	blobs, err := filepath.Glob(filepath.Join(cacheDir, "blobs", "sha256", "*"))
	require.NoError(t, err)
	require.NotEmpty(t, blobs, "cache blobs")
	for _, b := range blobs {
		data, err := os.ReadFile(b)
		require.NoError(t, err)
		data[len(data)/2] ^= 0xff
		require.NoError(t, os.WriteFile(b, data, 0o644))
	}
	builds := countBuilds(t)
	l, err = FromFiles(files, WithCache(cacheDir))
	require.NoError(t, err)
	require.Equal(t, want, digestString(t, l), "Digest() of a hit: want the entry's")
	require.Zero(t, *builds, "builds for Digest() of a hit")
	check(t, l) // serves Compressed: verified, rebuilt, correct
	assert.Equal(t, 1, *builds, "rebuilds of a corrupt entry")
	// Truncated entries too.
	blobs, err = filepath.Glob(filepath.Join(cacheDir, "blobs", "sha256", "*"))
	require.NoError(t, err)
	for _, b := range blobs {
		require.NoError(t, os.Truncate(b, 3))
	}
	l, err = FromFiles(files, WithCache(cacheDir))
	require.NoError(t, err)
	check(t, l)
}

// TestCacheTarballKey: a tarball is keyed by its path, size and times: an
// unchanged one is a hit, a rewritten one a miss.
func TestCacheTarballKey(t *testing.T) {
	cacheDir := t.TempDir()
	p := tartest.TempFile(t, "x.tar", tartest.Bytes(t, tartest.File("f", "one")))
	builds := countBuilds(t)
	for range 2 {
		l, err := FromTarball(p, WithCache(cacheDir))
		require.NoError(t, err)
		check(t, l)
	}
	assert.Equal(t, 1, *builds, "builds of an unchanged tarball")
	require.NoError(t, os.WriteFile(p, tartest.Bytes(t, tartest.File("f", "two")), 0o644))
	later := time.Now().Add(time.Hour)
	require.NoError(t, os.Chtimes(p, later, later))
	l, err := FromTarball(p, WithCache(cacheDir))
	require.NoError(t, err)
	check(t, l)
	assert.Equal(t, "f 0 644 \"two\"\n", summary(entries(t, l)), "entries of the changed tarball")
	assert.Equal(t, 2, *builds, "builds after the change: want a rebuild")
}

// TestCacheFilesSubSecondModTime: the tar writer rounds a File's
// ModTime to the nearest second, so two times in one second may give
// different bytes; the cache key must tell them apart, or a hit serves
// the bytes of the other time.
func TestCacheFilesSubSecondModTime(t *testing.T) {
	cacheDir := t.TempDir()
	base := time.Unix(1_700_000_000, 0)
	early := base.Add(400 * time.Millisecond) // written as base
	late := base.Add(600 * time.Millisecond)  // written as base+1s
	build := func(mt time.Time, opts ...Option) (string, int64) {
		t.Helper()
		l, err := FromFiles([]File{{Path: "f", Data: []byte("x"), ModTime: mt}}, opts...)
		require.NoError(t, err)
		es := entries(t, l)
		require.Len(t, es, 1, "entries of %v", mt)
		return digestString(t, l), es[0].MTime
	}
	_, mtEarly := build(early, WithCache(cacheDir))
	require.Equal(t, base.Unix(), mtEarly, "mtime written for %v", early)
	wantDigest, wantMT := build(late) // no cache
	require.Equal(t, base.Unix()+1, wantMT, "mtime written for %v", late)
	gotDigest, gotMT := build(late, WithCache(cacheDir))
	assert.Equal(t, wantMT, gotMT, "FromFiles(ModTime %v, WithCache) mtime", late)
	assert.Equal(t, wantDigest, gotDigest, "FromFiles(ModTime %v, WithCache) digest", late)
}

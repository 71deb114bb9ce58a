package cache

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stevedore-dev/stevedore/internal/itest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// content returns n deterministic pseudo-random bytes for seed.
func content(seed uint64, n int) []byte {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	p := make([]byte, n)
	rand.NewChaCha8(s).Read(p)
	return p
}

// metaOf describes data, computing its digest with crypto/sha256 directly.
func metaOf(_ testing.TB, data []byte) Meta {
	sum := sha256.Sum256(data)
	d := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
	return Meta{Digest: d, DiffID: d, Size: int64(len(data)), MediaType: types.OCILayer, CreatedBy: "test"}
}

// put writes data as the entry of key.
func put(t testing.TB, c *Cache, key string, data []byte) *Entry {
	t.Helper()
	e, err := putErr(c, key, data, metaOf(t, data))
	require.NoError(t, err, "committing %s", key)
	return e
}

func putErr(c *Cache, key string, data []byte, m Meta) (*Entry, error) {
	w, err := c.NewWriter()
	if err != nil {
		return nil, err
	}
	defer w.Abort()
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	return w.Commit(key, m)
}

func open(t testing.TB, dir string, opts ...Option) *Cache {
	t.Helper()
	c, err := Open(dir, opts...)
	require.NoError(t, err, "Open(%s)", dir)
	return c
}

// ls lists the names in dir/sub.
func ls(t testing.TB, dir, sub string) []string {
	t.Helper()
	return itest.DirNames(t, filepath.Join(dir, sub))
}

// readAll reads the entry through Open.
func readAll(e *Entry) ([]byte, error) {
	rc, err := e.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func mustHit(t testing.TB, c *Cache, key string, want []byte) *Entry {
	t.Helper()
	e, err := c.Get(key)
	require.NoError(t, err, "Get(%s): want a hit", key)
	assert.Equal(t, metaOf(t, want), e.Meta, "Get(%s).Meta", key)
	got, err := readAll(e)
	require.NoError(t, err, "reading Get(%s)", key)
	require.True(t, bytes.Equal(got, want), "reading Get(%s) = %d bytes, want the %d put", key, len(got), len(want))
	require.NoError(t, e.Verify(), "Get(%s).Verify()", key)
	return e
}

func mustMiss(t testing.TB, c *Cache, key string) {
	t.Helper()
	_, err := c.Get(key)
	require.ErrorIs(t, err, ErrMiss, "Get(%s)", key)
}

func TestOpenCreatesLayout(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	c := open(t, dir)
	assert.Equal(t, dir, c.Dir(), "Dir()")
	for _, sub := range []string{"blobs/sha256", "entries", "tmp"} {
		fi, err := os.Stat(filepath.Join(dir, sub))
		if assert.NoError(t, err, "stat %s", sub) {
			assert.True(t, fi.IsDir(), "%s is a directory", sub)
			assert.Equal(t, 0o755&^umask(), fi.Mode().Perm(), "mode of %s", sub)
		}
	}
	for _, opt := range []Option{WithLimit(-1), WithTempMaxAge(-1)} {
		_, err := Open(t.TempDir(), opt)
		assert.Error(t, err, "Open with a negative option")
	}
	_, err := Open("")
	assert.Error(t, err, `Open("")`)
}

func umask() os.FileMode {
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("umask-probe-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o777); err != nil {
		return 0
	}
	defer os.Remove(dir)
	fi, err := os.Stat(dir)
	if err != nil {
		return 0
	}
	return 0o777 &^ fi.Mode().Perm()
}

func TestHitMiss(t *testing.T) {
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"small", []byte("hello")},
		{"large", content(1, 3<<20+7)},
	}
	dir := t.TempDir()
	c := open(t, dir)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := NewKey("test").AddString(tt.name).Sum()
			mustMiss(t, c, key)
			e := put(t, c, key, tt.data)
			assert.Equal(t, filepath.Join(dir, "blobs/sha256", e.Digest.Hex), e.Path, "Commit().Path")
			mustHit(t, c, key, tt.data)
			mustHit(t, open(t, dir), key, tt.data) // another Cache on the same dir
			for _, p := range []string{e.Path, c.entryPath(key)} {
				fi, err := os.Stat(p)
				if assert.NoError(t, err, "stat %s", p) {
					assert.Equal(t, fs.FileMode(0o644), fi.Mode(), "mode of %s: readable by other users of the cache", p)
				}
			}
		})
	}
	assert.Empty(t, ls(t, dir, "tmp"), "tmp")
}

func TestReplaceEntry(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir)
	a, b := []byte("first"), []byte("second")
	put(t, c, "k", a)
	put(t, c, "shared", a)
	put(t, c, "k", b)
	mustHit(t, c, "k", b)
	mustHit(t, c, "shared", a) // a's blob is still referenced
	put(t, c, "shared", b)
	mustHit(t, c, "shared", b)
	assert.Equal(t, []string{metaOf(t, b).Digest.Hex}, ls(t, dir, "blobs/sha256"), "blobs: want only the blob of %q (the other is unreferenced)", b)
}

func TestSharedBlob(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir)
	data := content(2, 1000)
	e1 := put(t, c, "one", data)
	e2 := put(t, c, "two", data)
	assert.Equal(t, e1.Path, e2.Path, "paths of equal blobs: want one file")
	assert.Len(t, ls(t, dir, "blobs/sha256"), 1, "blobs")
	mustHit(t, c, "one", data)
	mustHit(t, c, "two", data)
}

func TestInvalidKey(t *testing.T) {
	c := open(t, t.TempDir())
	for _, key := range []string{"", ".", "..", ".hidden", "-x", "_x", "a/b", "../x", `a\b`, "a b", "é", strings.Repeat("a", 129)} {
		_, err := c.Get(key)
		assert.ErrorIs(t, err, ErrInvalidKey, "Get(%q)", key)
		_, err = putErr(c, key, []byte("x"), metaOf(t, []byte("x")))
		assert.ErrorIs(t, err, ErrInvalidKey, "Commit(%q)", key)
	}
	for _, key := range []string{"a", "A.b-c_d", strings.Repeat("f", 128), NewKey("v").Sum()} {
		_, err := c.Get(key)
		assert.ErrorIs(t, err, ErrMiss, "Get(%q)", key)
	}
}

// TestInvalidEntry damages an entry in ways Get must notice without hashing.
func TestInvalidEntry(t *testing.T) {
	data := content(3, 4096)
	m := metaOf(t, data)
	other, _ := encodeMeta("other", m)
	bad := m
	bad.Digest = v1.Hash{Algorithm: "sha512", Hex: strings.Repeat("0", 128)}
	badRaw := rawMeta(t, bad)
	tests := []struct {
		name     string
		damage   func(blob, entry string) error
		blobGone bool // the damaged blob must be removed too
		blobKept bool
	}{
		{"truncated blob", func(b, _ string) error { return os.Truncate(b, 4000) }, true, false},
		{"empty blob", func(b, _ string) error { return os.Truncate(b, 0) }, true, false},
		{"grown blob", func(b, _ string) error { return appendFile(b, []byte("x")) }, true, false},
		{"missing blob", func(b, _ string) error { return os.Remove(b) }, true, false},
		{"blob is a directory", func(b, _ string) error {
			if err := os.Remove(b); err != nil {
				return err
			}
			return os.Mkdir(b, 0o755)
		}, false, false},
		{"garbage metadata", func(_, e string) error { return os.WriteFile(e, []byte("{not json"), 0o644) }, false, true},
		{"empty metadata", func(_, e string) error { return os.WriteFile(e, nil, 0o644) }, false, true},
		{"truncated metadata", func(_, e string) error {
			fi, err := os.Stat(e)
			if err != nil {
				return err
			}
			return os.Truncate(e, fi.Size()/2)
		}, false, true},
		{"metadata of another key", func(_, e string) error { return os.WriteFile(e, other, 0o644) }, false, true},
		{"metadata with a sha512 digest", func(_, e string) error { return os.WriteFile(e, badRaw, 0o644) }, false, true},
		{"metadata of a future version", func(_, e string) error {
			raw, err := os.ReadFile(e)
			if err != nil {
				return err
			}
			return os.WriteFile(e, bytes.Replace(raw, []byte(`"version":1`), []byte(`"version":2`), 1), 0o644)
		}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			c := open(t, dir)
			e := put(t, c, "k", data)
			entry := filepath.Join(dir, "entries", "k.json")
			require.NoError(t, tt.damage(e.Path, entry))
			mustMiss(t, c, "k")
			assert.NoFileExists(t, entry, "the entry after Get")
			if tt.blobGone {
				assert.NoFileExists(t, e.Path, "the blob after Get")
			}
			if tt.blobKept {
				assert.FileExists(t, e.Path, "the blob after Get: want it kept (it is valid)")
			}
			mustMiss(t, c, "k")
			if tt.name != "blob is a directory" {
				put(t, c, "k", data)
				mustHit(t, c, "k", data)
			}
		})
	}
}

func rawMeta(t *testing.T, m Meta) []byte {
	t.Helper()
	raw, err := encodeMeta("k", m)
	require.NoError(t, err)
	return raw
}

func appendFile(p string, data []byte) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// TestCorruptSameSize flips one byte of a blob: Get cannot see it, Open and
// Verify must, and must remove the entry so it is never served again.
func TestCorruptSameSize(t *testing.T) {
	data := content(4, 1<<20)
	tests := []struct {
		name  string
		check func(*Entry) error
	}{
		{"Verify", (*Entry).Verify},
		{"Open", func(e *Entry) error {
			got, err := readAll(e)
			if err == nil && !bytes.Equal(got, data) {
				return errors.New("served corrupt bytes without an error")
			}
			return err
		}},
	}
	for _, tt := range tests {
		for _, at := range []int64{0, 1 << 19, 1<<20 - 1} {
			t.Run(tt.name, func(t *testing.T) {
				dir := t.TempDir()
				c := open(t, dir)
				put(t, c, "k", data)
				put(t, c, "alias", data) // same blob
				e := mustHit(t, c, "k", data)
				f, err := os.OpenFile(e.Path, os.O_WRONLY, 0)
				require.NoError(t, err)
				_, err = f.WriteAt([]byte{data[at] ^ 0x40}, at)
				require.NoError(t, err)
				require.NoError(t, f.Close())

				e, err = c.Get("k")
				require.NoError(t, err, "Get(k) after a same-size corruption: want a hit (Get does not hash)")
				require.ErrorIs(t, tt.check(e), ErrCorrupt, "%s() of a blob corrupted at byte %d", tt.name, at)
				mustMiss(t, c, "k")
				mustMiss(t, c, "alias") // its blob was the corrupt one
				assert.Empty(t, ls(t, dir, "blobs/sha256"), "blobs: want the corrupt one removed")
				put(t, c, "k", data)
				mustHit(t, c, "k", data)
			})
		}
	}
}

// TestCorruptReplaced: an entry found corrupt by a reader must not remove
// a good blob another writer has put in its place meanwhile.
func TestCorruptReplaced(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir)
	data := content(5, 10000)
	put(t, c, "k", data)
	e, err := c.Get("k")
	require.NoError(t, err)
	rc, err := e.Open()
	require.NoError(t, err)
	defer rc.Close()
	// Corrupt the open blob in place, then have a writer replace it.
	f, err := os.OpenFile(e.Path, os.O_WRONLY, 0)
	require.NoError(t, err)
	f.WriteAt([]byte{^data[0]}, 0)
	f.Close()
	put(t, c, "k", data)
	_, err = io.ReadAll(rc)
	require.ErrorIs(t, err, ErrCorrupt, "reading the corrupted blob")
	mustHit(t, c, "k", data)
}

func TestOpenAfterPrune(t *testing.T) {
	c := open(t, t.TempDir())
	put(t, c, "k", []byte("data"))
	e, err := c.Get("k")
	require.NoError(t, err)
	require.NoError(t, c.Prune(0))
	_, err = e.Open()
	assert.ErrorIs(t, err, ErrMiss, "Open() of a pruned entry")
}

func TestAbort(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir)
	w, err := c.NewWriter()
	require.NoError(t, err)
	_, err = w.Write(content(6, 1<<16))
	require.NoError(t, err)
	require.Len(t, ls(t, dir, "tmp"), 1, "tmp while writing: want one temp file")
	for i := range 2 {
		assert.NoError(t, w.Abort(), "Abort() #%d", i+1)
	}
	assert.Empty(t, ls(t, dir, "tmp"), "tmp after Abort")
	_, err = w.Write([]byte("x"))
	assert.Error(t, err, "Write after Abort")
	_, err = w.Commit("k", metaOf(t, nil))
	assert.Error(t, err, "Commit after Abort")
	mustMiss(t, c, "k")

	// Abort after Commit does nothing.
	w, err = c.NewWriter()
	require.NoError(t, err)
	_, err = w.Write([]byte("kept"))
	require.NoError(t, err)
	_, err = w.Commit("k", metaOf(t, []byte("kept")))
	require.NoError(t, err)
	assert.NoError(t, w.Abort(), "Abort() after Commit")
	_, err = w.Commit("k2", metaOf(t, []byte("kept")))
	assert.Error(t, err, "second Commit")
	mustHit(t, c, "k", []byte("kept"))
	assert.Empty(t, ls(t, dir, "tmp"), "tmp")
}

func TestCommitMismatch(t *testing.T) {
	data := []byte("the bytes written")
	good := metaOf(t, data)
	tests := []struct {
		name     string
		edit     func(*Meta)
		mismatch bool // error wraps ErrMismatch
	}{
		{"wrong digest", func(m *Meta) { m.Digest = metaOf(t, []byte("other")).Digest }, true},
		{"short size", func(m *Meta) { m.Size-- }, true},
		{"long size", func(m *Meta) { m.Size++ }, true},
		{"negative size", func(m *Meta) { m.Size = -1 }, false},
		{"sha512 digest", func(m *Meta) { m.Digest = v1.Hash{Algorithm: "sha512", Hex: good.Digest.Hex} }, false},
		{"short hex", func(m *Meta) { m.Digest.Hex = m.Digest.Hex[:10] }, false},
		{"uppercase hex", func(m *Meta) { m.Digest.Hex = strings.ToUpper(m.Digest.Hex) }, false},
		{"zero digest", func(m *Meta) { m.Digest = v1.Hash{} }, false},
		{"bad diffID", func(m *Meta) { m.DiffID = v1.Hash{Algorithm: "md5", Hex: "00"} }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			c := open(t, dir)
			m := good
			tt.edit(&m)
			_, err := putErr(c, "k", data, m)
			require.Error(t, err, "Commit(k, %+v)", m)
			require.Equal(t, tt.mismatch, errors.Is(err, ErrMismatch), "Commit(k, %+v) = %v: wraps ErrMismatch", m, err)
			assert.ErrorContains(t, err, "k", "Commit(k, ...): want the error to name the key")
			for _, sub := range []string{"tmp", "entries", "blobs/sha256"} {
				assert.Empty(t, ls(t, dir, sub), "%s after a failed Commit", sub)
			}
			mustMiss(t, c, "k")
		})
	}
}

func TestZeroDiffID(t *testing.T) {
	c := open(t, t.TempDir())
	m := metaOf(t, []byte("x"))
	m.DiffID = v1.Hash{}
	_, err := putErr(c, "k", []byte("x"), m)
	require.NoError(t, err)
	e, err := c.Get("k")
	require.NoError(t, err, "Get(k)")
	assert.Equal(t, m, e.Meta, "Get(k).Meta")
}

// TestAnnotations: an entry keeps its descriptor annotations, read back by
// another Cache on the same directory; an entry without has none.
func TestAnnotations(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir)
	for _, anns := range []map[string]string{
		nil,
		{"containerd.io/snapshot/stargz/toc.digest": "sha256:" + strings.Repeat("ab", 32), "io.containers.estargz.uncompressed-size": "1024"},
	} {
		m := metaOf(t, []byte("x"))
		m.Annotations = anns
		key := NewKey("test").AddInt(int64(len(anns))).Sum()
		_, err := putErr(c, key, []byte("x"), m)
		require.NoError(t, err)
		e, err := open(t, dir).Get(key)
		require.NoError(t, err)
		assert.Equal(t, m, e.Meta, "Get(%s).Meta", key)
	}
}

// TestOpenBlobOutlivesPrune: the file OpenBlob returns before Commit
// reads the blob after the entry is pruned away (by this Cache or
// another on the same directory).
func TestOpenBlobOutlivesPrune(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("an open file cannot be removed on Windows")
	}
	dir := t.TempDir()
	c := open(t, dir)
	data := []byte("the blob of a layer being built")
	w, err := c.NewWriter()
	require.NoError(t, err)
	_, err = w.Write(data)
	require.NoError(t, err)
	f, err := w.OpenBlob()
	require.NoError(t, err)
	defer f.Close()
	_, err = w.CommitUnsynced("held", metaOf(t, data))
	require.NoError(t, err)
	require.NoError(t, open(t, dir).Prune(0), "Prune(0) by another Cache")
	mustMiss(t, c, "held")
	got, err := io.ReadAll(f)
	require.NoError(t, err)
	assert.Equal(t, data, got, "the blob read through OpenBlob's file after the prune")
	_, err = w.OpenBlob()
	assert.Error(t, err, "OpenBlob after Commit")
}

// TestVerifyFile: VerifyFile checks the blob through an open file as
// Verify does through the path, and removes the entry of a corrupt one.
func TestVerifyFile(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir)
	data := content(7, 1<<16)
	e := put(t, c, "v", data)
	f, err := os.OpenFile(e.Path, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, e.VerifyFile(f), "VerifyFile of an intact blob")
	_, err = f.WriteAt([]byte{data[100] ^ 0xff}, 100)
	require.NoError(t, err)
	assert.ErrorIs(t, e.VerifyFile(f), ErrCorrupt, "VerifyFile of a blob with one byte changed")
	mustMiss(t, c, "v")
}

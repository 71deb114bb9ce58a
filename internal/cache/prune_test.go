package cache

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// setUsed sets the last use of key's entry, so that tests do not depend on
// the clock's resolution.
func setUsed(t *testing.T, c *Cache, key string, at time.Time) {
	t.Helper()
	require.NoError(t, os.Chtimes(c.entryPath(key), at, at))
}

func keys(t *testing.T, c *Cache) []string {
	t.Helper()
	var ks []string
	for _, name := range ls(t, c.Dir(), "entries") {
		ks = append(ks, strings.TrimSuffix(name, ".json"))
	}
	slices.Sort(ks)
	return ks
}

func blobBytes(t *testing.T, c *Cache) int64 {
	t.Helper()
	var n int64
	for _, name := range ls(t, c.Dir(), "blobs/sha256") {
		fi, err := os.Stat(filepath.Join(c.Dir(), "blobs/sha256", name))
		require.NoError(t, err)
		n += fi.Size()
	}
	return n
}

func TestPruneLRU(t *testing.T) {
	base := time.Now().Add(-time.Hour)
	blob := func(i uint64) []byte { return content(100+i, 100) }
	tests := []struct {
		name  string
		puts  []string // key=blob index; a key's blob is blob(index of its first letter)
		use   []string // keys Get in this order after the puts (most recent last)
		limit int64
		want  []string // keys left
	}{
		{"nothing to do", []string{"a", "b", "c"}, nil, 300, []string{"a", "b", "c"}},
		{"evicts oldest put", []string{"a", "b", "c"}, nil, 200, []string{"b", "c"}},
		{"Get keeps an entry", []string{"a", "b", "c"}, []string{"a"}, 200, []string{"a", "c"}},
		{"Get order", []string{"a", "b", "c"}, []string{"c", "b", "a"}, 100, []string{"a"}},
		{"limit between sizes", []string{"a", "b", "c"}, []string{"b"}, 150, []string{"b"}},
		{"zero empties", []string{"a", "b", "c"}, nil, 0, nil},
		// a1 and a2 share blob a: evicting a1 frees nothing while a2 is kept.
		{"shared blob", []string{"a1", "c", "a2"}, nil, 100, []string{"a2"}},
		{"shared blob kept by its recent user", []string{"a1", "a2", "c"}, []string{"a1"}, 100, []string{"a1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := open(t, t.TempDir())
			for i, k := range tt.puts {
				put(t, c, k, blob(uint64(k[0])))
				setUsed(t, c, k, base.Add(time.Duration(i)*time.Second))
			}
			for _, k := range tt.use {
				mustHit(t, c, k, blob(uint64(k[0])))
			}
			require.NoError(t, c.Prune(tt.limit))
			assert.Equal(t, tt.want, keys(t, c), "keys Prune(%d) left", tt.limit)
			assert.LessOrEqual(t, blobBytes(t, c), tt.limit, "blob bytes Prune(%d) left", tt.limit)
			for _, k := range tt.want {
				mustHit(t, c, k, blob(uint64(k[0])))
			}
		})
	}
	assert.Error(t, open(t, t.TempDir()).Prune(-1), "Prune(-1)")
}

func TestWithLimit(t *testing.T) {
	c := open(t, t.TempDir(), WithLimit(250))
	base := time.Now().Add(-time.Hour)
	put(t, c, "a", content(1, 100))
	setUsed(t, c, "a", base)
	put(t, c, "b", content(2, 100))
	setUsed(t, c, "b", base.Add(time.Second))
	mustHit(t, c, "a", content(1, 100)) // a is now the most recent
	put(t, c, "c", content(3, 100))     // 300 > 250: b goes
	assert.Equal(t, []string{"a", "c"}, keys(t, c), "keys after Commit over the limit")
	// An entry larger than the limit survives its own Commit, and is
	// evicted by the next one.
	put(t, c, "big", content(4, 1000))
	assert.Equal(t, []string{"big"}, keys(t, c), "keys after Commit of a blob over the limit")
	mustHit(t, c, "big", content(4, 1000))
	put(t, c, "d", content(5, 100))
	assert.Equal(t, []string{"d"}, keys(t, c), "keys after the next Commit")
}

func TestPruneCleansUp(t *testing.T) {
	c := open(t, t.TempDir())
	put(t, c, "good", []byte("good"))
	put(t, c, "truncated", []byte("truncated"))
	e, _ := c.Get("truncated")
	require.NoError(t, os.Truncate(e.Path, 3))
	orphan := content(7, 64)
	orphanPath := filepath.Join(c.Dir(), "blobs/sha256", metaOf(t, orphan).Digest.Hex)
	require.NoError(t, os.WriteFile(orphanPath, orphan, 0o644))
	require.NoError(t, os.WriteFile(c.entryPath("garbage"), []byte("]"), 0o644))
	foreign := filepath.Join(c.Dir(), "entries", "README")
	require.NoError(t, os.WriteFile(foreign, []byte("not ours"), 0o644))
	require.NoError(t, c.Prune(1<<40))
	assert.Equal(t, []string{"README", "good"}, keys(t, c), "entries after Prune")
	assert.NoFileExists(t, orphanPath, "orphan blob after Prune")
	assert.Len(t, ls(t, c.Dir(), "blobs/sha256"), 1, "blobs after Prune")
	mustHit(t, c, "good", []byte("good"))
}

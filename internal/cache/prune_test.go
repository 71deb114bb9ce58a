package cache

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// setUsed sets the last use of key's entry, so that tests do not depend on
// the clock's resolution.
func setUsed(t *testing.T, c *Cache, key string, at time.Time) {
	t.Helper()
	if err := os.Chtimes(c.entryPath(key), at, at); err != nil {
		t.Fatal(err)
	}
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
		if err != nil {
			t.Fatal(err)
		}
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
			if err := c.Prune(tt.limit); err != nil {
				t.Fatal(err)
			}
			if got := keys(t, c); !slices.Equal(got, tt.want) {
				t.Errorf("Prune(%d) left %v, want %v", tt.limit, got, tt.want)
			}
			if got := blobBytes(t, c); got > tt.limit {
				t.Errorf("Prune(%d) left %d blob bytes", tt.limit, got)
			}
			for _, k := range tt.want {
				mustHit(t, c, k, blob(uint64(k[0])))
			}
		})
	}
	if err := open(t, t.TempDir()).Prune(-1); err == nil {
		t.Errorf("Prune(-1) = nil error, want an error")
	}
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
	if got, want := keys(t, c), []string{"a", "c"}; !slices.Equal(got, want) {
		t.Errorf("after Commit over the limit, keys = %v, want %v", got, want)
	}
	// An entry larger than the limit survives its own Commit, and is
	// evicted by the next one.
	put(t, c, "big", content(4, 1000))
	if got, want := keys(t, c), []string{"big"}; !slices.Equal(got, want) {
		t.Errorf("after Commit of a blob over the limit, keys = %v, want %v", got, want)
	}
	mustHit(t, c, "big", content(4, 1000))
	put(t, c, "d", content(5, 100))
	if got, want := keys(t, c), []string{"d"}; !slices.Equal(got, want) {
		t.Errorf("keys = %v, want %v", got, want)
	}
}

func TestPruneCleansUp(t *testing.T) {
	c := open(t, t.TempDir())
	put(t, c, "good", []byte("good"))
	put(t, c, "truncated", []byte("truncated"))
	e, _ := c.Get("truncated")
	if err := os.Truncate(e.Path, 3); err != nil {
		t.Fatal(err)
	}
	orphan := content(7, 64)
	orphanPath := filepath.Join(c.Dir(), "blobs/sha256", metaOf(t, orphan).Digest.Hex)
	if err := os.WriteFile(orphanPath, orphan, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.entryPath("garbage"), []byte("]"), 0o644); err != nil {
		t.Fatal(err)
	}
	foreign := filepath.Join(c.Dir(), "entries", "README")
	if err := os.WriteFile(foreign, []byte("not ours"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.Prune(1 << 40); err != nil {
		t.Fatal(err)
	}
	if got, want := keys(t, c), []string{"README", "good"}; !slices.Equal(got, want) {
		t.Errorf("entries after Prune = %v, want %v", got, want)
	}
	if _, err := os.Stat(orphanPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat orphan blob after Prune = %v, want not exist", err)
	}
	if got := len(ls(t, c.Dir(), "blobs/sha256")); got != 1 {
		t.Errorf("blobs after Prune = %d, want 1", got)
	}
	mustHit(t, c, "good", []byte("good"))
}

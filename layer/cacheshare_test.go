package layer

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCacheSharedByGoroutines: layers built at once by several
// goroutines into one cache directory (each layer opening the cache on
// its own, as separate processes would), some with the same key, under a
// limit that evicts while others build, all serve the bytes of their
// uncached build.
func TestCacheSharedByGoroutines(t *testing.T) {
	cacheDir := t.TempDir()
	const n = 8
	mk := func(i int, opts ...Option) v1.Layer {
		d := t.TempDir()
		tree(t, d, "src/a.go", "bin/")
		// Two layers of each content: same keys, built at once.
		require.NoError(t, os.WriteFile(filepath.Join(d, "bin", "tool"), []byte(fmt.Sprintf("tool %d %0*d", i/2, 20<<10, 0)), 0o755))
		l, err := FromDir(d, opts...)
		require.NoError(t, err)
		return l
	}
	want := make([]string, n)
	for i := range n {
		want[i] = digestString(t, mk(i, WithCompression(Uncompressed)))
	}
	got := make([]v1.Layer, n)
	var wg sync.WaitGroup
	for i := range n {
		got[i] = mk(i, WithCompression(Uncompressed), WithCache(cacheDir), WithCacheLimit(40<<10))
		wg.Go(func() { _ = got[i].(Computable).Compute(t.Context()) })
	}
	wg.Wait()
	for i, l := range got {
		assert.Equal(t, want[i], digestString(t, l), "layer %d: digest with the shared cache, without", i)
		check(t, l)
	}
}

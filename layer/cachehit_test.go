package layer

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCacheHit(t *testing.T) {
	cacheDir, d := t.TempDir(), t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(d, "f"), []byte("x"), 0o644))
	hit := func(opts ...Option) bool {
		t.Helper()
		l, err := FromDir(d, opts...)
		require.NoError(t, err)
		c := l.(interface{ CacheHit() bool })
		assert.False(t, c.CacheHit(), "CacheHit before the build")
		require.NoError(t, l.(*layer).Compute(context.Background()))
		return c.CacheHit()
	}
	assert.False(t, hit(), "no cache: never a hit")
	assert.False(t, hit(WithCache(cacheDir)), "first build into the cache")
	assert.True(t, hit(WithCache(cacheDir)), "same input again")
	require.NoError(t, os.WriteFile(filepath.Join(d, "f"), []byte("y"), 0o644))
	assert.False(t, hit(WithCache(cacheDir)), "changed input")
}

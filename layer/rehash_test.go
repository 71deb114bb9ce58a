package layer

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/internal/tartest"
)

// TestRehashCancelled: a single-file source touched between its cache
// key and the write is hashed again (see sameContent); that read is one
// like the others, which the hook sees and the build's context stops.
func TestRehashCancelled(t *testing.T) {
	for _, kind := range []string{"host file", "tarball"} {
		t.Run(kind, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "f.tar")
			writeFile(t, p, string(tartest.Bytes(t, tartest.File("f", "one"))))
			src := HostFile(p, "f")
			if kind == "tarball" {
				src = Tarball(p)
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			var hashes atomic.Int64
			testHookHash = func(string) {
				if hashes.Add(1) == 2 { // the key's, then the write's
					cancel()
				}
			}
			t.Cleanup(func() { testHookHash = nil })
			l, err := New(ctx, []Source{src}, WithCache(t.TempDir()), WithCacheEvents(func(e CacheEvent) {
				if e.Kind == CacheMiss {
					require.NoError(t, os.Chtimes(p, time.Now(), time.Now().Add(time.Hour)))
				}
			}))
			require.NoError(t, err)
			_, err = l.Digest()
			require.ErrorIs(t, err, context.Canceled)
			assert.EqualValues(t, 2, hashes.Load(), "files hashed")
		})
	}
}

package registry

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/internal/itest"
)

// TestIntegrationLayerCache stores, finds and prunes layer cache entries
// in a real Docker Distribution registry with htpasswd auth: it accepts
// the entries' artifact manifests (empty config, annotations), serves
// them back, mounts their blobs into another repository, and deletes
// them on Prune (deletion is enabled in its configuration).
func TestIntegrationLayerCache(t *testing.T) {
	itest.Require(t, "docker-registry")
	const user, password = "cache-it", "a-long-enough-password"
	d := itest.StartDistribution(t, user, password, nil, nil)
	p := itest.StartProxy(t, d.Host)
	ctx := ctxT(t)
	auth := WithBasicAuth(user, password)
	rc, err := NewLayerCache(p.Ref("team/cache"), auth)
	require.NoError(t, err)

	now := time.Now()
	keys := []string{strings.Repeat("0a", 32), strings.Repeat("0b", 32)}
	for i, key := range keys {
		_, ok, err := rc.Lookup(ctx, key)
		require.NoError(t, err, "Lookup before Put")
		require.False(t, ok, "Lookup before Put")
		putAt(t, ctx, rc, key, now.Add(-time.Duration(i*40*24)*time.Hour), 2048)
	}

	p.Reset()
	got, ok, err := rc.Lookup(ctx, keys[0])
	require.NoError(t, err)
	require.True(t, ok, "Lookup after Put")
	assert.Empty(t, p.Stats().Downloads, "blobs downloaded by a lookup")
	rd, err := got.Compressed()
	require.NoError(t, err)
	_, err = io.Copy(io.Discard, rd)
	require.NoError(t, err, "reading the blob (its digest is verified)")
	require.NoError(t, rd.Close())

	// A pushed image holding the layer mounts it from the cache.
	p.Reset()
	img, err := mutate.AppendLayers(randomImage(t, 1, 256), got)
	require.NoError(t, err)
	_, err = Push(ctx, p.Ref("team/app:v1"), img, auth)
	require.NoError(t, err)
	assert.Equal(t, 1, p.Stats().Mounts, "mounts from the cache repository")

	checkPrune(t, ctx, rc, map[string]bool{keys[0]: true, keys[1]: false})
}

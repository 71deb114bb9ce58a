package exampletest

import (
	"context"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/registry"
	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

// CheckSharedCache checks what a second machine did when it found every
// layer in the shared layer cache (-cache-repo) and pushed to ref (as
// printed: REF@sha256:...), from the registry's counters since it
// started: no layer blob of the image or index at ref downloaded; only
// its configs uploaded (one per image); every layer mounted.
func CheckSharedCache(t testing.TB, st registrytest.Stats, ref string) {
	t.Helper()
	ctx := context.Background()
	var imgs []v1.Image
	if idx, err := registry.PullIndex(ctx, ref); err == nil {
		ms, err := partial.FindImages(idx, func(v1.Descriptor) bool { return true })
		require.NoError(t, err)
		imgs = ms
	} else {
		img, err := registry.Pull(ctx, ref)
		require.NoError(t, err)
		imgs = []v1.Image{img}
	}
	layers, configBytes := 0, int64(0)
	for _, img := range imgs {
		ls, err := img.Layers()
		require.NoError(t, err)
		for _, l := range ls {
			d, err := l.Digest()
			require.NoError(t, err)
			assert.Zero(t, st.Downloads[d], "downloads of layer %s", d)
		}
		layers += len(ls)
		raw, err := img.RawConfigFile()
		require.NoError(t, err)
		configBytes += int64(len(raw))
	}
	assert.Equal(t, len(imgs), st.BlobUploads, "blobs uploaded (the configs only)")
	assert.Equal(t, configBytes, st.BlobUploadBytes, "bytes uploaded (the configs')")
	assert.Equal(t, layers, st.Mounts, "layers mounted")
}

package exampletest

import (
	"context"
	"maps"
	"strings"
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
// its configs uploaded (one per image), and the blobs of the artifacts
// attached to its images (-sbom); every layer mounted.
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
	layers := 0
	uploads := map[v1.Hash]int64{} // the blobs machine B had to send
	name := ref[:strings.LastIndex(ref, "@")]
	for _, img := range imgs {
		ls, err := img.Layers()
		require.NoError(t, err)
		for _, l := range ls {
			d, err := l.Digest()
			require.NoError(t, err)
			assert.Zero(t, st.Downloads[d], "downloads of layer %s", d)
		}
		layers += len(ls)
		m, err := img.Manifest()
		require.NoError(t, err)
		uploads[m.Config.Digest] = m.Config.Size
		d, err := img.Digest()
		require.NoError(t, err)
		maps.Copy(uploads, AttachedBlobs(t, name+"@"+d.String()))
	}
	var uploadBytes int64
	for _, n := range uploads {
		uploadBytes += n
	}
	assert.Equal(t, len(uploads), st.BlobUploads, "blobs uploaded (the configs and the attached artifacts' only)")
	assert.Equal(t, uploadBytes, st.BlobUploadBytes, "bytes uploaded (the configs' and the attached artifacts')")
	assert.Equal(t, layers, st.Mounts, "layers mounted")
}

// AttachedBlobs returns the blobs (digest and size) of the artifacts that
// refer to ref (NAME@sha256:...): an image's SBOM and provenance.
func AttachedBlobs(t testing.TB, ref string, opts ...registry.Option) map[v1.Hash]int64 {
	t.Helper()
	ctx := context.Background()
	name := ref[:strings.LastIndex(ref, "@")]
	attached, err := registry.Referrers(ctx, ref, "", opts...)
	require.NoError(t, err)
	blobs := map[v1.Hash]int64{}
	for _, a := range attached {
		art, err := registry.Pull(ctx, name+"@"+a.Digest.String(), opts...)
		require.NoError(t, err)
		m, err := art.Manifest()
		require.NoError(t, err)
		blobs[m.Config.Digest] = m.Config.Size
		for _, l := range m.Layers {
			blobs[l.Digest] = l.Size
		}
	}
	return blobs
}

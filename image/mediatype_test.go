package image

import (
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/internal/mediatype"
)

func TestMediaTypes(t *testing.T) {
	files := []tarFile{{name: "app/", dir: true, mode: 0o755}, {name: "app/hello.txt", body: "hello\n"}}
	tests := []struct {
		name      string
		base      v1.Image
		layer     types.MediaType
		opts      []Option
		wantMF    types.MediaType // manifest
		wantLayer types.MediaType // the added layer
		wantBase  types.MediaType // base layers
	}{
		{"oci base, oci gzip", configuredBase(t, mediatype.OCI), types.OCILayer, nil, types.OCIManifestSchema1, types.OCILayer, types.OCILayer},
		{"oci base, docker gzip", configuredBase(t, mediatype.OCI), types.DockerLayer, nil, types.OCIManifestSchema1, types.OCILayer, types.OCILayer},
		{"oci base, docker tar", configuredBase(t, mediatype.OCI), types.DockerUncompressedLayer, nil, types.OCIManifestSchema1, types.OCIUncompressedLayer, types.OCILayer},
		{"oci base, zstd", configuredBase(t, mediatype.OCI), types.OCILayerZStd, nil, types.OCIManifestSchema1, types.OCILayerZStd, types.OCILayer},
		{"docker base, oci gzip", configuredBase(t, mediatype.Docker), types.OCILayer, nil, types.DockerManifestSchema2, types.DockerLayer, types.DockerLayer},
		{"docker base, oci tar", configuredBase(t, mediatype.Docker), types.OCIUncompressedLayer, nil, types.DockerManifestSchema2, types.DockerUncompressedLayer, types.DockerLayer},
		{"docker base, zstd converts", configuredBase(t, mediatype.Docker), types.OCILayerZStd, nil, types.OCIManifestSchema1, types.OCILayerZStd, types.OCILayer},
		{"docker base, WithOCIMediaTypes", configuredBase(t, mediatype.Docker), types.OCILayer, []Option{WithOCIMediaTypes()}, types.OCIManifestSchema1, types.OCILayer, types.OCILayer},
		{"random base, zstd", randomBase(t), types.OCILayerZStd, nil, types.OCIManifestSchema1, types.OCILayerZStd, types.OCILayer},
		{"scratch, docker gzip", nil, types.DockerLayer, nil, types.OCIManifestSchema1, types.OCILayer, ""},
		{"mixed base (ggcr plain way) is repaired", plainGGCR(t), types.OCILayer, nil, types.OCIManifestSchema1, types.OCILayer, types.OCILayer},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := tarLayer(t, tc.layer, files...)
			img := mustBuild(t, tc.base, append([]Option{WithLayers(l)}, tc.opts...)...)
			m := manifestOf(t, img)
			assert.Equal(t, tc.wantMF, m.MediaType, "manifest media type")
			n := len(m.Layers)
			assert.Equal(t, tc.wantLayer, m.Layers[n-1].MediaType, "added layer media type")
			ld, err := l.Digest()
			require.NoError(t, err)
			assert.Equal(t, ld, m.Layers[n-1].Digest, "added layer digest (the layer's own: same bytes)")
			if tc.base == nil {
				return
			}
			bm := manifestOf(t, tc.base)
			for i, d := range bm.Layers {
				want := v1.Descriptor{MediaType: tc.wantBase, Digest: d.Digest, Size: d.Size}
				got := v1.Descriptor{MediaType: m.Layers[i].MediaType, Digest: m.Layers[i].Digest, Size: m.Layers[i].Size}
				assert.Equal(t, want, got, "base layer %d", i)
			}
		})
	}
}

// plainGGCR appends a ggcr tarball layer (Docker-typed by default) to an
// OCI base, the plain ggcr way: the result mixes the two families.
func plainGGCR(t testing.TB) v1.Image {
	t.Helper()
	l := tarLayer(t, types.DockerLayer, tarFile{name: "plain.txt", body: "plain\n"})
	img, err := mutate.AppendLayers(configuredBase(t, mediatype.OCI), l)
	require.NoError(t, err)
	return img
}

// TestPlainGGCRMixes shows the problem this package solves: assertOneFamily
// would reject ggcr's plain AppendLayers result.
func TestPlainGGCRMixes(t *testing.T) {
	m := manifestOf(t, plainGGCR(t))
	assert.Equal(t, types.OCIManifestSchema1, m.MediaType, "plain ggcr image: manifest media type")
	assert.Equal(t, types.DockerLayer, m.Layers[len(m.Layers)-1].MediaType, "plain ggcr image: last layer media type")
}

// TestBaseLayerObjectTypeDiffers: a base built with mutate.Addendum.MediaType
// has layers whose MediaType() disagrees with the manifest; the result
// agrees with itself anyway (checkImage compares both).
func TestBaseLayerObjectTypeDiffers(t *testing.T) {
	base := mutate.MediaType(mutate.ConfigMediaType(emptyImage(), types.OCIConfigJSON), types.OCIManifestSchema1)
	base, err := mutate.Append(base, mutate.Addendum{Layer: randomLayer(t, 40, types.DockerLayer), MediaType: types.OCILayer})
	require.NoError(t, err)
	m := manifestOf(t, base)
	ls, err := base.Layers()
	require.NoError(t, err)
	lmt, err := ls[0].MediaType()
	require.NoError(t, err)
	if m.Layers[0].MediaType != types.OCILayer || lmt != types.DockerLayer {
		t.Skipf("ggcr no longer reports different types (manifest %s, layer %s)", m.Layers[0].MediaType, lmt)
	}
	mustBuild(t, base, WithEnv("A", "1"))
}

package image

import (
	"testing"

	"github.com/stevedore-dev/stevedore/internal/mediatype"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
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
			if m.MediaType != tc.wantMF {
				t.Errorf("manifest media type = %s, want %s", m.MediaType, tc.wantMF)
			}
			n := len(m.Layers)
			if got := m.Layers[n-1].MediaType; got != tc.wantLayer {
				t.Errorf("added layer media type = %s, want %s", got, tc.wantLayer)
			}
			ld, _ := l.Digest()
			if m.Layers[n-1].Digest != ld {
				t.Errorf("added layer digest = %s, want the layer's own %s (same bytes)", m.Layers[n-1].Digest, ld)
			}
			if tc.base == nil {
				return
			}
			bm := manifestOf(t, tc.base)
			for i, d := range bm.Layers {
				if m.Layers[i].MediaType != tc.wantBase || m.Layers[i].Digest != d.Digest || m.Layers[i].Size != d.Size {
					t.Errorf("base layer %d = %s %s %d, want %s %s %d", i, m.Layers[i].MediaType, m.Layers[i].Digest, m.Layers[i].Size, tc.wantBase, d.Digest, d.Size)
				}
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
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// TestPlainGGCRMixes shows the problem this package solves: assertOneFamily
// would reject ggcr's plain AppendLayers result.
func TestPlainGGCRMixes(t *testing.T) {
	m := manifestOf(t, plainGGCR(t))
	if m.MediaType != types.OCIManifestSchema1 || m.Layers[len(m.Layers)-1].MediaType != types.DockerLayer {
		t.Fatalf("plain ggcr image: manifest %s, last layer %s; want OCI manifest with a Docker layer", m.MediaType, m.Layers[len(m.Layers)-1].MediaType)
	}
}

// TestBaseLayerObjectTypeDiffers: a base built with mutate.Addendum.MediaType
// has layers whose MediaType() disagrees with the manifest; the result
// agrees with itself anyway (checkImage compares both).
func TestBaseLayerObjectTypeDiffers(t *testing.T) {
	base := mutate.MediaType(mutate.ConfigMediaType(emptyImage(), types.OCIConfigJSON), types.OCIManifestSchema1)
	base, err := mutate.Append(base, mutate.Addendum{Layer: randomLayer(t, 40, types.DockerLayer), MediaType: types.OCILayer})
	if err != nil {
		t.Fatal(err)
	}
	m := manifestOf(t, base)
	ls, _ := base.Layers()
	if lmt, _ := ls[0].MediaType(); m.Layers[0].MediaType != types.OCILayer || lmt != types.DockerLayer {
		t.Skipf("ggcr no longer reports different types (manifest %s, layer %s)", m.Layers[0].MediaType, lmt)
	}
	mustBuild(t, base, WithEnv("A", "1"))
}

package mediatype

import (
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/assert"

	"github.com/stevedore-dev/stevedore/internal/compress"
)

// TestLayer pins the layer type of every kind in each family, and the
// kinds a family cannot express.
func TestLayer(t *testing.T) {
	gzip, zstd, none := Kind{Compression: compress.Gzip}, Kind{Compression: compress.Zstd}, Kind{Compression: compress.None}
	foreign := func(k Kind) Kind { k.Foreign = true; return k }
	want := map[Family]map[Kind]types.MediaType{
		OCI: {
			gzip: types.OCILayer, zstd: types.OCILayerZStd, none: types.OCIUncompressedLayer,
			foreign(gzip): types.OCIRestrictedLayer, foreign(none): types.OCIUncompressedRestrictedLayer, foreign(zstd): "",
		},
		Docker: {
			gzip: types.DockerLayer, zstd: "", none: types.DockerUncompressedLayer,
			foreign(gzip): types.DockerForeignLayer, foreign(none): "", foreign(zstd): "",
		},
	}
	for f, kinds := range want {
		for k, mt := range kinds {
			got, ok := f.Layer(k)
			assert.Equal(t, mt, got, "%v layer of %+v", f, k)
			assert.Equal(t, mt != "", ok, "%v can express %+v", f, k)
			if ok {
				back, known := LayerKind(got)
				assert.True(t, known, "LayerKind(%s) is known", got)
				assert.Equal(t, k, back, "LayerKind(%s)", got)
			}
		}
	}
	_, known := LayerKind(types.OCIManifestSchema1)
	assert.False(t, known, "a manifest type is no layer type")
}

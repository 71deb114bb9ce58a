package image

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/image-spec/schema"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/internal/mediatype"
)

// checkSchemas validates a's manifest (or index, with every image of
// it) and config against the image spec's official JSON schemas. Docker
// schema 2 manifests and manifest lists have the same shape and are
// checked with the OCI schemas too.
func checkSchemas(t testing.TB, a Artifact) {
	t.Helper()
	raw, err := a.RawManifest()
	require.NoError(t, err)
	switch a := a.(type) {
	case v1.ImageIndex:
		assert.NoError(t, schema.ValidatorMediaTypeImageIndex.Validate(bytes.NewReader(raw)), "index %s", raw)
		for _, img := range indexImages(t, a) {
			checkSchemas(t, img)
		}
	case v1.Image:
		assert.NoError(t, schema.ValidatorMediaTypeManifest.Validate(bytes.NewReader(raw)), "manifest %s", raw)
		cfg, err := a.RawConfigFile()
		require.NoError(t, err)
		assert.NoError(t, schema.ValidatorMediaTypeImageConfig.Validate(bytes.NewReader(cfg)), "config %s", cfg)
	}
}

// TestSchemas: what Build, BuildIndex and the OCI writers produce
// validates against the official schemas; a scratch image with no layer
// among them (the schema wants one layer).
func TestSchemas(t *testing.T) {
	scratch := mustBuild(t, nil)
	checkSchemas(t, scratch)
	for _, fam := range []mediatype.Family{mediatype.OCI, mediatype.Docker} {
		img := mustBuild(t, configuredBase(t, fam), WithLayers(randomLayer(t, 3, types.OCILayer)), WithEnv("A", "b"), WithWorkDir("/w"))
		checkSchemas(t, img)
		idx, err := BuildIndex(t.Context(), baseIndex(t, fam), WithLayers(randomLayer(t, 4, types.OCILayer)))
		require.NoError(t, err)
		checkSchemas(t, idx)

		dir := filepath.Join(t.TempDir(), "layout")
		require.NoError(t, WriteOCILayout(t.Context(), dir, idx, WithRefName("x")))
		require.NoError(t, WriteOCILayout(t.Context(), dir, img, WithRefName("y")))
		for name, v := range map[string]schema.Validator{"oci-layout": schema.ValidatorMediaTypeLayoutHeader, "index.json": schema.ValidatorMediaTypeImageIndex} {
			b, err := os.ReadFile(filepath.Join(dir, name))
			require.NoError(t, err)
			assert.NoError(t, v.Validate(bytes.NewReader(b)), "%s of a layout: %s", name, b)
		}
		l, err := ReadOCILayout(dir)
		require.NoError(t, err)
		written, err := l.ImageIndex("x")
		require.NoError(t, err)
		checkSchemas(t, written)
	}
}

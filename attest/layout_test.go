package attest

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/image"
	"github.com/stevedore-dev/stevedore/internal/itest"
)

func readIndex(t testing.TB, dir string) v1.IndexManifest {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "index.json"))
	require.NoError(t, err)
	var im v1.IndexManifest
	require.NoError(t, json.Unmarshal(raw, &im))
	return im
}

func readBlob(t testing.TB, dir string, h v1.Hash, v any) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "blobs", h.Algorithm, h.Hex))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, v))
}

// TestWriteOCILayout checks that the artifacts land in the layout as the
// referrers tag scheme keeps them, merged on a second write.
func TestWriteOCILayout(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "layout")
	img, subject := testImage(t)
	require.NoError(t, image.WriteOCILayout(ctx, dir, img, image.WithRefName("v1")))
	arts, err := ForImage(img, testFacts())
	require.NoError(t, err)
	require.NoError(t, WriteOCILayout(ctx, dir, arts...))
	require.NoError(t, WriteOCILayout(ctx, dir, arts...), "writing the same artifacts again")

	later := testFacts()
	later.Created = later.Created.Add(1)
	more, err := ForImage(img, later)
	require.NoError(t, err)
	require.NoError(t, WriteOCILayout(ctx, dir, more[0]))

	im := readIndex(t, dir)
	names := map[string]v1.Descriptor{}
	for _, d := range im.Manifests {
		names[d.Annotations[image.RefNameAnnotation]] = d
	}
	require.Len(t, names, 2, "index.json names the image and its referrers: %v", names)
	assert.Equal(t, subject.Digest, names["v1"].Digest)
	refs, ok := names["sha256-"+subject.Digest.Hex]
	require.True(t, ok, "index.json has the fallback tag of the image")

	var ri v1.IndexManifest
	readBlob(t, dir, refs.Digest, &ri)
	want := map[v1.Hash]string{}
	for _, a := range append(arts, more[0]) {
		d, err := Descriptor(a)
		require.NoError(t, err)
		want[d.Digest] = d.ArtifactType
	}
	got := map[v1.Hash]string{}
	for _, d := range ri.Manifests {
		got[d.Digest] = d.ArtifactType
		var m v1.Manifest
		readBlob(t, dir, d.Digest, &m)
		require.NotNil(t, m.Subject)
		assert.Equal(t, subject.Digest, m.Subject.Digest, "subject of referrer %s", d.Digest)
		for _, l := range append(m.Layers, m.Config) {
			_, err := os.Stat(filepath.Join(dir, "blobs", "sha256", l.Digest.Hex))
			assert.NoError(t, err, "blob %s of referrer %s", l.Digest, d.Digest)
		}
	}
	assert.Equal(t, want, got, "referrers of the image, with their artifact types")

	// skopeo still reads the image by its name.
	if _, err := exec.LookPath("skopeo"); err == nil || itest.InCI() {
		out := itest.Run(t, itest.Require(t, "skopeo")[0], "inspect", "--raw", "oci:"+dir+":v1")
		var m v1.Manifest
		require.NoError(t, json.Unmarshal([]byte(out), &m))
		assert.Len(t, m.Layers, 1, "skopeo inspect oci:DIR:v1")
	}
}

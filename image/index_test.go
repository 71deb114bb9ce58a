package image

import (
	"archive/tar"
	"errors"
	"io"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/stevedore-dev/stevedore/internal/mediatype"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// baseIndex is a multi-platform base of family fam: linux/amd64,
// linux/arm64/v8, and a BuildKit-style attestation entry.
func baseIndex(t testing.TB, fam mediatype.Family) v1.ImageIndex {
	t.Helper()
	var idx v1.ImageIndex = empty.Index
	idx = mutate.IndexMediaType(idx, fam.Index())
	var adds []mutate.IndexAddendum
	for i, p := range []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64", Variant: "v8"}} {
		img := configuredBase(t, fam)
		cf := configOf(t, img)
		cf.Architecture, cf.Variant = p.Architecture, p.Variant
		cf.Config.Labels = map[string]string{"n": string(rune('0' + i))}
		img, err := mutate.ConfigFile(img, cf)
		require.NoError(t, err)
		p := p
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
	}
	att := configuredBase(t, fam)
	adds = append(adds, mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{
		Platform:    &v1.Platform{OS: "unknown", Architecture: "unknown"},
		Annotations: map[string]string{"vnd.docker.reference.type": "attestation-manifest"},
	}})
	return mutate.AppendManifests(idx, adds...)
}

func platformsOf(t testing.TB, idx v1.ImageIndex) []string {
	t.Helper()
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	var ps []string
	for _, d := range im.Manifests {
		ps = append(ps, d.Platform.String())
	}
	return ps
}

func TestBuildIndex(t *testing.T) {
	perPlatform := WithPlatformLayers(func(p v1.Platform) ([]v1.Layer, error) {
		return []v1.Layer{tarLayer(t, types.OCILayer, tarFile{name: "arch", body: p.Architecture})}, nil
	})
	shared := WithLayers(tarLayer(t, types.OCILayer, tarFile{name: "shared", body: "x"}))
	tests := []struct {
		name      string
		base      v1.ImageIndex
		opts      []IndexOption
		platforms []string
		mt        types.MediaType
	}{
		{"scratch", nil, []IndexOption{WithPlatforms("linux/amd64", "linux/arm64")}, []string{"linux/amd64", "linux/arm64"}, types.OCIImageIndex},
		{"oci base, all", baseIndex(t, mediatype.OCI), nil, []string{"linux/amd64", "linux/arm64/v8"}, types.OCIImageIndex},
		{"oci base, filtered", baseIndex(t, mediatype.OCI), []IndexOption{WithPlatforms("linux/arm64")}, []string{"linux/arm64/v8"}, types.OCIImageIndex},
		{"docker base", baseIndex(t, mediatype.Docker), nil, []string{"linux/amd64", "linux/arm64/v8"}, types.DockerManifestList},
		{"docker base, zstd converts all", baseIndex(t, mediatype.Docker), []IndexOption{WithPlatformLayers(func(p v1.Platform) ([]v1.Layer, error) {
			if p.Architecture == "arm64" {
				return []v1.Layer{tarLayer(t, types.OCILayerZStd, tarFile{name: "z", body: "z"})}, nil
			}
			return nil, nil
		})}, []string{"linux/amd64", "linux/arm64/v8"}, types.OCIImageIndex},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := append([]IndexOption{shared, perPlatform, WithEnv("A", "1")}, tc.opts...)
			idx, err := BuildIndex(t.Context(), tc.base, opts...)
			require.NoError(t, err)
			checkIndex(t, idx)
			assert.Equal(t, tc.platforms, platformsOf(t, idx), "platforms")
			mt, err := idx.MediaType()
			require.NoError(t, err)
			assert.Equal(t, tc.mt, mt, "index media type")
			checkPlatformImages(t, idx)
			checkIndexRoundTrip(t, idx)
		})
	}
}

// checkPlatformImages checks the images of an index TestBuildIndex built:
// each for the architecture its descriptor says, with env A=1, and a last
// layer holding its architecture's name (or one of the other layers'
// contents).
func checkPlatformImages(t *testing.T, idx v1.ImageIndex) {
	t.Helper()
	for d, img := range indexImages(t, idx) {
		cf := configOf(t, img)
		assert.Equal(t, d.Platform.Architecture, cf.Architecture, "architecture of the image for %s", d.Platform)
		v, _ := lookupEnv(cf.Config.Env, "A")
		assert.Equal(t, "1", v, "image for %s: env A", d.Platform)
		// Last layer: the per-platform one, naming its arch.
		ls, err := img.Layers()
		require.NoError(t, err)
		rc, err := ls[len(ls)-1].Uncompressed()
		require.NoError(t, err)
		tr := tar.NewReader(rc)
		_, err = tr.Next()
		require.NoError(t, err)
		b, err := io.ReadAll(tr)
		require.NoError(t, err)
		require.NoError(t, rc.Close())
		assert.Contains(t, []string{"", d.Platform.Architecture, "z", "x"}, string(b), "image for %s: content of the last layer", d.Platform)
	}
}

// checkIndexRoundTrip writes idx to an OCI tarball and reads it back: the
// same index, converted to OCI media types (a layout holds OCI types).
func checkIndexRoundTrip(t *testing.T, idx v1.ImageIndex) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "idx.tar")
	require.NoError(t, WriteOCITarball(t.Context(), p, idx))
	l, err := ReadOCITarball(p)
	require.NoError(t, err)
	defer l.Close()
	got, err := l.ImageIndex("")
	require.NoError(t, err)
	checkIndex(t, got)
	oci, err := ToOCI(idx)
	require.NoError(t, err)
	assert.Equal(t, digestOf(t, oci.(v1.ImageIndex)), digestOf(t, got), "round-tripped index digest")
	mt, err := got.MediaType()
	require.NoError(t, err)
	assert.Equal(t, types.OCIImageIndex, mt, "round-tripped index media type")
}

func TestBuildIndexErrors(t *testing.T) {
	idx, err := BuildIndex(t.Context(), nil)
	require.NoError(t, err, "BuildIndex(nil): a linux/amd64 scratch index")
	assert.Equal(t, []string{"linux/amd64"}, platformsOf(t, idx))
	_, err = BuildIndex(t.Context(), baseIndex(t, mediatype.OCI), WithPlatforms("linux/s390x"))
	require.ErrorIs(t, err, ErrNotFound, "BuildIndex(WithPlatforms(s390x))")
	assert.Contains(t, err.Error(), "it has linux/amd64, linux/arm64/v8", "the error lists what the base has")
	boom := errors.New("boom")
	_, err = BuildIndex(t.Context(), baseIndex(t, mediatype.OCI), WithPlatformLayers(func(v1.Platform) ([]v1.Layer, error) { return nil, boom }))
	assert.ErrorIs(t, err, boom, "BuildIndex(failing WithPlatformLayers)")
}

// TestWorkDirLayer checks the content of WithWorkDir's layer: the directory
// and its parents, 0755, owned by 0:0.
func TestWorkDirLayer(t *testing.T) {
	img := mustBuild(t, nil, WithWorkDir("/srv/app"))
	ls, err := img.Layers()
	require.NoError(t, err)
	require.Len(t, ls, 1, "layers")
	rc, err := ls[0].Uncompressed()
	require.NoError(t, err)
	defer rc.Close()
	tr := tar.NewReader(rc)
	var got []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		type entry struct {
			typ      byte
			mode     int64
			uid, gid int
		}
		assert.Equal(t, entry{tar.TypeDir, 0o755, 0, 0}, entry{h.Typeflag, h.Mode & 0o7777, h.Uid, h.Gid}, "entry %s: a 0755 dir owned by 0:0", h.Name)
		got = append(got, filepath.Clean(h.Name))
	}
	assert.Equal(t, []string{"srv", "srv/app"}, got, "workdir layer entries")
}

// refIndex is an index that says where it came from, as
// registry.PullIndex's do.
type refIndex struct {
	idx
	ref name.Reference
}

type idx = v1.ImageIndex

func (i refIndex) Reference() name.Reference { return i.ref }

func TestBuildIndexAnnotations(t *testing.T) {
	ref, err := name.ParseReference("registry.example/base:2")
	require.NoError(t, err)
	base := baseIndex(t, mediatype.OCI)
	idx, err := BuildIndex(t.Context(), refIndex{base, ref}, WithAnnotation("k", "v"))
	require.NoError(t, err)
	checkIndex(t, idx)
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	want := map[string]string{BaseNameAnnotation: "registry.example/base:2", BaseDigestAnnotation: digestOf(t, base).String(), "k": "v"}
	assert.Equal(t, want, im.Annotations, "index annotations")
	bim, err := base.IndexManifest()
	require.NoError(t, err)
	baseDigests := map[string]string{}
	for _, d := range bim.Manifests {
		if d.Platform.OS != "unknown" {
			baseDigests[d.Platform.Architecture] = d.Digest.String()
		}
	}
	for d, img := range indexImages(t, idx) {
		m := manifestOf(t, img)
		want := map[string]string{BaseNameAnnotation: "registry.example/base:2", BaseDigestAnnotation: baseDigests[d.Platform.Architecture], "k": "v"}
		assert.Equal(t, want, m.Annotations, "image %s annotations", d.Platform)
	}
	// A Docker manifest list cannot carry annotations.
	_, err = BuildIndex(t.Context(), baseIndex(t, mediatype.Docker), WithAnnotation("k", "v"))
	assert.ErrorIs(t, err, ErrAnnotationsNeedOCI, "BuildIndex(docker, WithAnnotation)")
}

// TestLayerBuiltInBuildIndex checks that WithLayerBuilt is handed every
// layer BuildIndex adds, platform by platform and in order, typed as the
// image's manifest types it (OCI layers re-typed for a Docker base).
func TestLayerBuiltInBuildIndex(t *testing.T) {
	var handed []v1.Layer
	idx, err := BuildIndex(t.Context(), baseIndex(t, mediatype.Docker),
		WithLayers(tarLayer(t, types.OCILayer, tarFile{name: "shared", body: "x"})),
		WithPlatformLayers(func(p v1.Platform) ([]v1.Layer, error) {
			return []v1.Layer{tarLayer(t, types.OCILayer, tarFile{name: "arch", body: p.Architecture})}, nil
		}),
		WithLayerBuilt(func(l v1.Layer) { handed = append(handed, l) }))
	require.NoError(t, err)

	var want []v1.Descriptor
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	for _, d := range im.Manifests {
		img, err := idx.Image(d.Digest)
		require.NoError(t, err)
		m := manifestOf(t, img)
		base := len(m.Layers) - 2 // the base's layers, then the shared and the platform's
		want = append(want, m.Layers[base:]...)
	}
	require.Len(t, handed, len(want))
	for i, d := range want {
		h, err := handed[i].Digest()
		require.NoError(t, err)
		mt, err := handed[i].MediaType()
		require.NoError(t, err)
		assert.Equal(t, d.Digest, h, "layer %d digest", i)
		assert.Equal(t, types.DockerLayer, mt, "layer %d media type", i)
		assert.Equal(t, d.MediaType, mt, "layer %d media type", i)
	}
}

package registry

import (
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

// TestPullAnyPushAny pulls an image and an index with one call, lazily,
// and pushes each back with one call, mounting every blob.
func TestPullAnyPushAny(t *testing.T) {
	s := registrytest.New(t)
	ctx := ctxT(t)
	img, err := s.SeedImage(ctx, "single:v1")
	require.NoError(t, err)
	idx, err := s.SeedIndex(ctx, "multi:v1", "linux/amd64", "linux/arm64/v8")
	require.NoError(t, err)

	for _, tc := range []struct {
		ref         string
		seeded      Artifact
		index       bool
		wantMounted int // layers and configs
	}{
		{"single:v1", img, false, 3},
		{"multi:v1", idx, true, 6},
	} {
		t.Run(tc.ref, func(t *testing.T) {
			ref := s.Ref(tc.ref)
			s.ResetStats()
			a, err := PullAny(ctx, ref)
			require.NoError(t, err, "PullAny(%s)", ref)
			st := s.Stats()
			assert.Zero(t, st.BlobGETs, "PullAny(%s) read blobs: it must read manifests only", ref)

			_, isIndex := a.(v1.ImageIndex)
			_, isImage := a.(v1.Image)
			assert.Equal(t, tc.index, isIndex, "PullAny(%s) = %T: a v1.ImageIndex", ref, a)
			assert.Equal(t, !tc.index, isImage, "PullAny(%s) = %T: a v1.Image", ref, a)
			assert.Equal(t, digest(t, tc.seeded), digest(t, a), "PullAny(%s) digest", ref)
			assertReference(t, a, ref, "PullAny("+ref+")")

			s.ResetStats()
			d, err := PushAny(ctx, s.Ref("copy/"+tc.ref), a)
			require.NoError(t, err, "PushAny of PullAny(%s)", ref)
			assert.Equal(t, digest(t, tc.seeded).String(), d.DigestStr(), "PushAny digest")
			st = s.Stats()
			assert.Equal(t, tc.wantMounted, st.Mounts, "PushAny of a pulled artifact inside one registry: Mounts")
			assert.Zero(t, st.BlobGETs+st.BlobUploads, "PushAny of a pulled artifact inside one registry: BlobGETs+BlobUploads")

			back, err := PullAny(ctx, d.String())
			require.NoError(t, err)
			if tc.index {
				assert.NoError(t, validate.Index(back.(v1.ImageIndex)))
			} else {
				assert.NoError(t, validate.Image(back.(v1.Image)))
			}
		})
	}
}

// manifestOnly is an Artifact that is neither an image nor an index.
type manifestOnly struct{}

func (manifestOnly) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (manifestOnly) Digest() (v1.Hash, error)            { return v1.Hash{}, nil }
func (manifestOnly) RawManifest() ([]byte, error)        { return []byte("{}"), nil }

func TestPushAnyRefusesOthers(t *testing.T) {
	s := registrytest.New(t)
	for _, tc := range []struct {
		name string
		a    Artifact
		want string
	}{
		{"nil", nil, "nil artifact"},
		{"neither image nor index", manifestOnly{}, "registry.manifestOnly is neither a v1.Image nor a v1.ImageIndex"},
	} {
		_, err := PushAny(ctxT(t), s.Ref("app:v1"), tc.a)
		require.Error(t, err, "PushAny(%s)", tc.name)
		assert.Contains(t, err.Error(), tc.want, "PushAny(%s)", tc.name)
		assert.Contains(t, err.Error(), s.Ref("app:v1"), "PushAny(%s)", tc.name)
	}
	assert.Zero(t, s.Stats().ManifestPUTs)
}

func TestPullIndexOfAnImageSuggestsPullAny(t *testing.T) {
	s := registrytest.New(t)
	_, err := s.SeedImage(ctxT(t), "single:v1")
	require.NoError(t, err)
	_, err = PullIndex(ctxT(t), s.Ref("single:v1"))
	require.ErrorIs(t, err, ErrNotIndex)
	assert.Contains(t, err.Error(), "(use PullAny or Pull)")
}

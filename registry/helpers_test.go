package registry

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fast keeps retries quick in tests.
var fast = withBackoff(time.Millisecond, 20*time.Millisecond)

// randomImage is an OCI image of n random layers of size bytes.
func randomImage(t testing.TB, n int, size int64) v1.Image {
	t.Helper()
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	for range n {
		l, err := random.Layer(size, types.OCILayer)
		require.NoError(t, err)
		img, err = mutate.AppendLayers(img, l)
		require.NoError(t, err)
	}
	return img
}

// pushRandom pushes a random image of one layer of size bytes to ref, and
// returns it with the digest reference it was pushed as.
func pushRandom(t testing.TB, ref string, size int64, opts ...Option) (v1.Image, name.Digest) {
	t.Helper()
	img := randomImage(t, 1, size)
	d, err := Push(ctxT(t), ref, img, opts...)
	require.NoError(t, err, "Push(%s)", ref)
	return img, d
}

func digest(t testing.TB, d interface{ Digest() (v1.Hash, error) }) v1.Hash {
	t.Helper()
	h, err := d.Digest()
	require.NoError(t, err)
	return h
}

// assertReference checks that a, which call returned, remembers ref as
// its reference.
func assertReference(t testing.TB, a any, ref, call string) {
	t.Helper()
	r, ok := a.(interface{ Reference() name.Reference })
	require.True(t, ok, "%s = %T, which has no Reference method", call, a)
	assert.Equal(t, ref, r.Reference().String(), "%s.Reference()", call)
}

func validImage(t testing.TB, img v1.Image) {
	t.Helper()
	assert.NoError(t, validate.Image(img), "validate.Image")
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

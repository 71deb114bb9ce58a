package image

import (
	"errors"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stevedore-dev/stevedore/internal/itest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWithEntry: WithEntry adds named entries to a layout and to a
// tarball; a layout's entry of the same name is replaced.
func TestWithEntry(t *testing.T) {
	ctx := t.Context()
	a, b, c := testImage(t, 1), testImage(t, 2), testImage(t, 3)
	entries := func(l *Layout) map[string]v1.Hash {
		im, err := l.Index().IndexManifest()
		require.NoError(t, err)
		out := map[string]v1.Hash{}
		for _, d := range im.Manifests {
			out[d.Annotations[RefNameAnnotation]] = d.Digest
		}
		assert.Len(t, im.Manifests, len(out), "one entry per name")
		return out
	}

	dir := filepath.Join(t.TempDir(), "layout")
	require.NoError(t, WriteOCILayout(ctx, dir, a, WithRefName("a"), WithEntry("extra", b)))
	require.NoError(t, WriteOCILayout(ctx, dir, a, WithRefName("a"), WithEntry("extra", c)))
	l, err := ReadOCILayout(dir)
	require.NoError(t, err)
	defer l.Close()
	assert.Equal(t, map[string]v1.Hash{"a": digestOf(t, a), "extra": digestOf(t, c)}, entries(l), "layout entries")
	got, err := l.Image("extra")
	require.NoError(t, err)
	checkImage(t, got)

	path := filepath.Join(t.TempDir(), "x.tar")
	require.NoError(t, WriteOCITarball(ctx, path, a, WithEntry("b", b), WithEntry("c", c)))
	tl, err := ReadOCITarball(path)
	require.NoError(t, err)
	defer tl.Close()
	assert.Equal(t, map[string]v1.Hash{"": digestOf(t, a), "b": digestOf(t, b), "c": digestOf(t, c)}, entries(tl), "tarball entries")

	for _, opt := range []WriteOption{WithEntry("", b), WithEntry("a b", b), WithEntry("x", nil)} {
		err := WriteOCITarball(ctx, path, a, opt)
		assert.True(t, errors.Is(err, ErrInvalidOption), "got %v", err)
	}
}

// TestWithEntryNameTwice: one write cannot give two index.json entries
// one name (skopeo would read the first, Layout.Image the last).
func TestWithEntryNameTwice(t *testing.T) {
	a, b, c := testImage(t, 1), testImage(t, 2), testImage(t, 3)
	for _, opts := range [][]WriteOption{
		{WithRefName("x"), WithEntry("x", b)},
		{WithEntry("y", b), WithEntry("y", c)},
	} {
		dir := t.TempDir()
		err := WriteOCITarball(t.Context(), filepath.Join(dir, "x.tar"), a, opts...)
		assert.ErrorIs(t, err, ErrInvalidOption, "WriteOCITarball with a name twice")
		err = WriteOCILayout(t.Context(), filepath.Join(dir, "layout"), a, opts...)
		assert.ErrorIs(t, err, ErrInvalidOption, "WriteOCILayout with a name twice")
		assert.Empty(t, itest.DirNames(t, dir), "writes with a name twice left files")
	}
}

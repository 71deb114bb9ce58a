package image

import (
	"bytes"
	"context"
	"io"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/internal/tartest"
	"github.com/stevedore-dev/stevedore/layer"
)

// TestTreeFalseDiffID: an image whose config gives its layer the diff ID
// of another layer must not have its index kept under that diff ID, in
// the cache directory or in memory: the image with the real layer, read
// after it, shows its own files. The layer of the lying image is read in
// full and refused (ErrUnsupportedBase), or, for a lazy layer read from
// its table of contents, kept under the TOC's digest.
func TestTreeFalseDiffID(t *testing.T) {
	good := tarLayer(t, types.OCILayer, tarFile{name: "good", body: "g"})
	goodID, err := good.DiffID()
	require.NoError(t, err)
	honest := mustBuild(t, nil, WithLayers(good))
	plain := mustBuild(t, nil, WithLayers(tarLayer(t, types.OCILayer, tarFile{name: "evil", body: "e"})))
	lazy := throughLayout(t, mustBuild(t, nil, WithLayers(lazyLayer(t, layer.EStargz, 3))))

	for _, tc := range []struct {
		name    string
		liar    v1.Image
		refused bool
	}{
		{"gzip", plain, true},
		{"eStargz", lazy, false},
	} {
		for _, cached := range []bool{true, false} {
			liar := claimDiffID(t, tc.liar, goodID)
			cache := ""
			if cached {
				cache = t.TempDir()
			}
			tr, err := NewTree(liar, cache)
			require.NoError(t, err)
			err = tr.Load(t.Context())
			if tc.refused {
				require.ErrorIs(t, err, ErrUnsupportedBase, "%s, cache %v", tc.name, cached)
				assert.ErrorContains(t, err, "the config says "+goodID.String())
			} else {
				require.NoError(t, err, "%s, cache %v", tc.name, cached)
			}

			next := tr.TreeOf // shares the indexes in memory
			if cached {
				next = func(img v1.Image) (*Tree, error) { return NewTree(img, cache) }
			}
			tr, err = next(honest)
			require.NoError(t, err)
			require.NoError(t, tr.Load(t.Context()))
			var names []string
			for n := range tr.All() {
				names = append(names, n.Name)
			}
			assert.Equal(t, []string{"good"}, names, "%s, cache %v: the tree of the real layer", tc.name, cached)
		}
	}
}

// claimDiffID is img (of one layer) with a config that gives its layer the
// diff ID d.
func claimDiffID(t testing.TB, img v1.Image, d v1.Hash) v1.Image {
	t.Helper()
	cf, err := img.ConfigFile()
	require.NoError(t, err)
	cf = cf.DeepCopy()
	require.Len(t, cf.RootFS.DiffIDs, 1)
	cf.RootFS.DiffIDs[0] = d
	return lyingConfig{img, cf}
}

type lyingConfig struct {
	v1.Image
	cf *v1.ConfigFile
}

func (i lyingConfig) ConfigFile() (*v1.ConfigFile, error) { return i.cf, nil }

// TestIndexListerFalseDiffID: a layer of package layer is indexed from
// its own list of files (see layer.Lister) when no content digests are
// wanted, as Build indexes the base below the layers it places; the
// list is kept in memory under the diff ID the image's config claims,
// which a later base sharing the indexes (WithTrees, Tree.TreeOf)
// recalls. A config that gives such a layer the diff ID of another must
// be refused, not have that other layer's base show the lister's files.
func TestIndexListerFalseDiffID(t *testing.T) {
	good := tarLayer(t, types.OCILayer, tarFile{name: "good", body: "g"})
	goodID, err := good.DiffID()
	require.NoError(t, err)
	evil, err := layer.FromFiles([]layer.File{{Path: "evil", Data: []byte("e")}})
	require.NoError(t, err)
	ix := newIndexer("")

	_, err = ix.index(t.Context(), evil, descriptorOf(t, evil), goodID, false)
	require.ErrorIs(t, err, ErrUnsupportedBase)
	assert.ErrorContains(t, err, "the config says "+goodID.String())

	nodes, err := ix.index(t.Context(), good, descriptorOf(t, good), goodID, false)
	require.NoError(t, err)
	var names []string
	for _, n := range nodes {
		names = append(names, n.Name)
	}
	assert.Equal(t, []string{"good"}, names, "the index of the real layer")

	// Its own diff ID indexes as before.
	evilID, err := evil.DiffID()
	require.NoError(t, err)
	nodes, err = ix.index(t.Context(), evil, descriptorOf(t, evil), evilID, false)
	require.NoError(t, err)
	require.Len(t, nodes, 1)
	assert.Equal(t, "evil", nodes[0].Name)
}

// descriptorOf is the manifest descriptor of l.
func descriptorOf(t testing.TB, l v1.Layer) v1.Descriptor {
	t.Helper()
	d, err := partial.Descriptor(l)
	require.NoError(t, err)
	return *d
}

// TestPlacedOnFalseDiffID: a layer placed on a base is cached under the
// base's ID, which Build knows before it reads the base. A lazy layer
// indexed from its table of contents is not checked against the diff ID
// the config claims, so the ID must not rest on that claim alone: the
// layer placed on a lying lazy base (its tree has /var/cache/app) must
// not be served, from the cache, to the same layer placed on the image
// with the real layer (which has no /var).
func TestPlacedOnFalseDiffID(t *testing.T) {
	good := tarLayer(t, types.OCILayer, tarFile{name: "good", body: "g"})
	goodID, err := good.DiffID()
	require.NoError(t, err)
	honest := mustBuild(t, nil, WithLayers(good))
	liar := claimDiffID(t, throughLayout(t, mustBuild(t, nil, WithLayers(lazyLayer(t, layer.EStargz, 3)))), goodID)
	cacheDir := t.TempDir()
	placed := func(base v1.Image) []string {
		l, err := layer.FromFiles([]layer.File{{Path: "/var/cache/app/x", Data: []byte("x")}}, layer.WithCache(cacheDir))
		require.NoError(t, err)
		img, err := Build(t.Context(), base, WithLayers(l))
		require.NoError(t, err)
		ls, err := img.Layers()
		require.NoError(t, err)
		rc, err := ls[len(ls)-1].Uncompressed()
		require.NoError(t, err)
		defer rc.Close()
		var names []string
		for _, e := range tartest.Read(t, rc) {
			names = append(names, e.Header.Name)
		}
		return names
	}
	assert.Equal(t, []string{"var/cache/app/x"}, placed(liar), "on the lying base, which has the directories")
	assert.Equal(t, []string{"var/", "var/cache/", "var/cache/app/", "var/cache/app/x"}, placed(honest), "on the image with the real layer")
}

// TestIndexCheckedCancel: what follows a layer's tar is read for its
// diff ID, and that read stops when ctx is done, as the tar's does.
func TestIndexCheckedCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	trailer := &cancelReader{cancel: cancel, left: 64 << 20}
	r := io.MultiReader(bytes.NewReader(tarBytes(t, tarFile{name: "f", body: "f"})), trailer)
	_, err := indexChecked(ctx, r, v1.Descriptor{}, v1.Hash{Algorithm: "sha256", Hex: sha256Hex("")})
	require.ErrorIs(t, err, context.Canceled)
	assert.Greater(t, trailer.left, int64(32<<20), "bytes left unread after the cancellation")
}

// cancelReader yields left zero bytes, and calls cancel at its first
// read.
type cancelReader struct {
	cancel func()
	left   int64
}

func (r *cancelReader) Read(p []byte) (int, error) {
	r.cancel()
	if r.left == 0 {
		return 0, io.EOF
	}
	n := min(int64(len(p)), r.left)
	clear(p[:n])
	r.left -= n
	return int(n), nil
}

package image

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"slices"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/layer"
)

// TestTree: the file tree of a stack of layers, whiteouts and opaque
// directories applied, read from layers of any origin.
func TestTree(t *testing.T) {
	lower := tarLayer(t, types.OCILayer,
		tarFile{name: "etc/passwd", body: "root:x:0:0::/root:/bin/sh\n"},
		tarFile{name: "etc/motd", body: "hi\n"},
		tarFile{name: "var/cache/a", body: "a"},
		tarFile{name: "var/cache/b", body: "b"},
	)
	upper := deletingLayer(t,
		layer.File{Path: "/var/cache/c", Data: []byte("c")},
		layer.File{Path: "/etc/pw", Mode: fs.ModeSymlink, Linkname: "passwd"},
	)
	img := mustBuild(t, nil, WithLayers(lower, upper))
	tree, err := NewTree(img, t.TempDir())
	require.NoError(t, err)
	_, ok := tree.Lookup("/etc/passwd")
	assert.False(t, ok, "Lookup before Load")
	require.NoError(t, tree.Load(t.Context()))

	var names []string
	for n := range tree.All() {
		names = append(names, n.Name)
	}
	assert.Equal(t, []string{"etc", "etc/passwd", "etc/pw", "var", "var/cache", "var/cache/c"}, names)
	n, ok := tree.Lookup("/etc/passwd")
	require.True(t, ok)
	assert.Equal(t, byte(tar.TypeReg), n.Type)
	assert.Equal(t, v1.Hash{Algorithm: "sha256", Hex: sha256Hex("root:x:0:0::/root:/bin/sh\n")}, n.Digest, "content digest")
	b, err := tree.ReadFile(t.Context(), "/etc/pw")
	require.NoError(t, err, "ReadFile through a symlink")
	assert.Equal(t, "root:x:0:0::/root:/bin/sh\n", string(b))
	_, err = tree.ReadFile(t.Context(), "/etc/motd")
	assert.ErrorIs(t, err, ErrNotFound, "ReadFile of a deleted file")
	_, err = tree.ReadFile(t.Context(), "/var")
	assert.ErrorIs(t, err, ErrNotRegular)
	assert.Equal(t, chainID(configOf(t, img).RootFS.DiffIDs), tree.ID())
}

// deletingLayer is the upper layer of the tree tests: it deletes
// /etc/motd, makes /var/cache opaque and adds files.
func deletingLayer(t testing.TB, files ...layer.File) v1.Layer {
	t.Helper()
	l, err := layer.New(t.Context(), []layer.Source{
		layer.Deletions("/etc/motd"),
		layer.Opaque("/var/cache"),
		layer.Files(files),
	})
	require.NoError(t, err)
	return l
}

// TestSkipUnchanged: files, links and directories the base has exactly
// so are left out of the added layer; the rest is written.
func TestSkipUnchanged(t *testing.T) {
	base := mustBuild(t, nil, WithLayers(tarLayer(t, types.OCILayer,
		tarFile{name: "srv/same", body: "same"},
		tarFile{name: "srv/changed", body: "old"},
	)))
	add, err := layer.FromFiles([]layer.File{
		{Path: "/srv/same", Data: []byte("same")},
		{Path: "/srv/changed", Data: []byte("new")},
		{Path: "/srv/new", Data: []byte("n")},
	})
	require.NoError(t, err)
	for _, tc := range []struct {
		opts []Option
		want []string
	}{
		{nil, []string{"srv/changed", "srv/new", "srv/same"}},
		{[]Option{WithSkipUnchanged()}, []string{"srv/changed", "srv/new"}},
	} {
		img := mustBuild(t, base, append(tc.opts, WithLayers(add))...)
		ls, err := img.Layers()
		require.NoError(t, err)
		assert.Equal(t, tc.want, layerNames(t, ls[len(ls)-1]), "added layer with %d options", len(tc.opts))
	}
}

// layerNames lists the names of a layer's non-directory entries, sorted.
func layerNames(t testing.TB, l v1.Layer) []string {
	t.Helper()
	rc, err := l.Uncompressed()
	require.NoError(t, err)
	defer rc.Close()
	var out []string
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		if h.Typeflag != tar.TypeDir {
			out = append(out, h.Name)
		}
	}
	slices.Sort(out)
	return out
}

func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// TestTreeWithLoadsFromBelow: a tree made by adding a layer to a loaded
// tree (as Build places each layer on the one below) starts from a copy
// of that tree, and ends with what loading every layer from scratch
// gives; the tree below is left as it was.
func TestTreeWithLoadsFromBelow(t *testing.T) {
	lower := tarLayer(t, types.OCILayer,
		tarFile{name: "etc/motd", body: "hi\n"},
		tarFile{name: "var/cache/a", body: "a"},
		tarFile{name: "keep", body: "k"},
	)
	upper := deletingLayer(t, layer.File{Path: "/var/cache/c", Data: []byte("c")}, layer.File{Path: "/new/f", Data: []byte("f")})
	img := mustBuild(t, nil, WithLayers(lower, upper))
	ls, err := img.Layers()
	require.NoError(t, err)
	m, err := img.Manifest()
	require.NoError(t, err)
	diffIDs := configOf(t, img).RootFS.DiffIDs

	scratch, err := NewTree(img, "")
	require.NoError(t, err)
	require.NoError(t, scratch.Load(t.Context()))

	ix := newIndexer("")
	below := newTree(ls[:1], m.Layers[:1], diffIDs[:1], ix, true)
	require.NoError(t, below.Load(t.Context()))
	before := slices.Collect(below.All())
	top := below.with(ls[1], m.Layers[1], diffIDs[1])
	require.NoError(t, top.Load(t.Context()))

	assert.Equal(t, slices.Collect(scratch.All()), slices.Collect(top.All()), "the tree loaded from the one below")
	assert.Equal(t, scratch.ID(), top.ID())
	assert.Equal(t, before, slices.Collect(below.All()), "the tree below after the one above loaded")
	_, ok := below.Lookup("/etc/motd")
	assert.True(t, ok, "the tree below still has what the layer above deletes")
}

package image

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"sync/atomic"
	"syscall"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/layer"
)

// countedLayer is an uncompressed tar layer of files whose opens are
// counted.
func countedLayer(t *testing.T, opens *atomic.Int32, files ...tarFile) v1.Layer {
	t.Helper()
	b := tarBytes(t, files...)
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		opens.Add(1)
		return io.NopCloser(bytes.NewReader(b)), nil
	})
	require.NoError(t, err)
	return l
}

func symlink(name, target string) tarFile {
	return tarFile{name: name, typ: tar.TypeSymlink, link: target}
}

func hardlink(name, target string) tarFile {
	return tarFile{name: name, typ: tar.TypeLink, link: target}
}

// viewLayers are two layers with links, a whiteout, an opaque directory
// and a directory replaced by a file.
func viewLayers(t *testing.T, opens *atomic.Int32) []v1.Layer {
	lower := countedLayer(t, opens,
		tarFile{name: "etc/", dir: true, mode: 0o755},
		tarFile{name: "etc/passwd", body: "root:x:0:0::/root:/bin/sh\n"},
		tarFile{name: "usr/lib/", dir: true, mode: 0o755},
		tarFile{name: "usr/lib/libc.so", body: "libc"},
		symlink("lib", "usr/lib"),
		symlink("abs", "/usr/lib"),
		symlink("up", "../../../etc/passwd"),
		symlink("usr/lib/etc", "../../etc"),
		symlink("loop1", "loop2"),
		symlink("loop2", "loop1"),
		symlink("self", "self"),
		symlink("dangling", "nowhere/x"),
		tarFile{name: "a/x", body: "x"},
		tarFile{name: "a/y", body: "y"},
		hardlink("a/z", "a/y"),
		tarFile{name: "c/", dir: true, mode: 0o700},
		tarFile{name: "c/old", body: "old"},
		tarFile{name: "d/inner", body: "inner"},
		tarFile{name: "f", body: "f"},
	)
	upper := countedLayer(t, opens,
		tarFile{name: "a/.wh.x"},
		tarFile{name: "c/.wh..wh..opq"},
		tarFile{name: "c/new", body: "new"},
		tarFile{name: "d", body: "now a file"},
		hardlink("hard", "a/y"),
	)
	return []v1.Layer{lower, upper}
}

func loadedTree(t *testing.T, layers ...v1.Layer) *Tree {
	t.Helper()
	tree, err := NewTree(mustBuild(t, nil, WithLayers(layers...)), "")
	require.NoError(t, err)
	require.NoError(t, tree.Load(t.Context()))
	return tree
}

// TestTreeResolve: symlinks followed in every element inside the root,
// whiteouts and opaque directories applied, loops and paths through
// files refused.
func TestTreeResolve(t *testing.T) {
	var opens atomic.Int32
	tree := loadedTree(t, viewLayers(t, &opens)...)
	for _, tc := range []struct {
		name, why string
		path      string
		typ       byte
		ok        bool
		err       error
	}{
		{"/usr/lib/libc.so", "a file", "usr/lib/libc.so", tar.TypeReg, true, nil},
		{"lib/libc.so", "relative symlink, relative name", "usr/lib/libc.so", tar.TypeReg, true, nil},
		{"/abs/libc.so", "absolute target, from the image root", "usr/lib/libc.so", tar.TypeReg, true, nil},
		{"/lib", "the last element is followed", "usr/lib", tar.TypeDir, true, nil},
		{"/up", ".. stops at the root", "etc/passwd", tar.TypeReg, true, nil},
		{"/lib/etc/passwd", "a link under a link", "etc/passwd", tar.TypeReg, true, nil},
		{"/usr/../etc/./passwd", "the name is cleaned", "etc/passwd", tar.TypeReg, true, nil},
		{"/", "the root", "", tar.TypeDir, true, nil},
		{"/a/x", "whited out", "a/x", 0, false, nil},
		{"/a/y", "kept beside a whiteout", "a/y", tar.TypeReg, true, nil},
		{"/hard", "a hardlink is a file", "hard", tar.TypeReg, true, nil},
		{"/c/old", "under an opaque directory", "c/old", 0, false, nil},
		{"/c/new", "the opaque directory's own", "c/new", tar.TypeReg, true, nil},
		{"/lib/new.so", "missing: where it would land", "usr/lib/new.so", 0, false, nil},
		{"/nope/x", "missing parent", "nope/x", 0, false, nil},
		{"/dangling", "dangling link: its target", "nowhere/x", 0, false, nil},
		{"/d/inner", "a directory replaced by a file", "", 0, false, syscall.ENOTDIR},
		{"/f/x", "under a file", "", 0, false, syscall.ENOTDIR},
		{"/loop1/x", "a loop", "", 0, false, syscall.ELOOP},
		{"/self", "a link to itself", "", 0, false, syscall.ELOOP},
	} {
		p, n, ok, err := tree.Resolve(tc.name)
		if tc.err != nil {
			assert.ErrorIs(t, err, tc.err, "Resolve(%q) (%s)", tc.name, tc.why)
			continue
		}
		require.NoError(t, err, "Resolve(%q) (%s)", tc.name, tc.why)
		assert.Equal(t, tc.path, p, "Resolve(%q) path (%s)", tc.name, tc.why)
		assert.Equal(t, tc.ok, ok, "Resolve(%q) found (%s)", tc.name, tc.why)
		assert.Equal(t, tc.typ, n.Type, "Resolve(%q) type (%s)", tc.name, tc.why)
		if ok && tc.path != "" {
			assert.Equal(t, tc.path, n.Name, "Resolve(%q) node name (%s)", tc.name, tc.why)
		}
	}
	_, n, _, err := tree.Resolve("/c")
	require.NoError(t, err)
	assert.Equal(t, int64(0o700), n.Mode, "Resolve(/c) mode: the lower layer's, not the implied parent of c/new")
}

func TestTreeResolveBeforeLoad(t *testing.T) {
	var opens atomic.Int32
	tree, err := NewTree(mustBuild(t, nil, WithLayers(viewLayers(t, &opens)...)), "")
	require.NoError(t, err)
	p, _, ok, err := tree.Resolve("/etc/passwd")
	assert.NoError(t, err)
	assert.False(t, ok, "Resolve before Load finds nothing")
	assert.Equal(t, "etc/passwd", p)
}

// TestTreeReadFiles: contents through links, each layer read once.
func TestTreeReadFiles(t *testing.T) {
	var opens atomic.Int32
	tree := loadedTree(t, viewLayers(t, &opens)...)
	for _, tc := range []struct {
		why   string
		names []string
		want  map[string]string
		opens int32
	}{
		{"one file", []string{"/etc/passwd"}, map[string]string{"/etc/passwd": "root:x:0:0::/root:/bin/sh\n"}, 1},
		{"through symlinks", []string{"/lib/libc.so", "up"}, map[string]string{"/lib/libc.so": "libc", "up": "root:x:0:0::/root:/bin/sh\n"}, 1},
		{"hardlink in its target's layer", []string{"/a/z"}, map[string]string{"/a/z": "y"}, 1},
		{"hardlink to a lower layer's file", []string{"/hard"}, map[string]string{"/hard": "y"}, 1},
		{"one content, three names", []string{"/a/y", "/hard", "/a/z"}, map[string]string{"/a/y": "y", "/hard": "y", "/a/z": "y"}, 1},
		{"two layers, a name twice", []string{"/c/new", "/usr/lib/libc.so", "/c/new"}, map[string]string{"/c/new": "new", "/usr/lib/libc.so": "libc"}, 2},
		{"a file replacing a directory", []string{"/d"}, map[string]string{"/d": "now a file"}, 1},
		{"none", nil, map[string]string{}, 0},
	} {
		opens.Store(0)
		got := map[string]string{}
		err := tree.ReadFiles(t.Context(), tc.names, func(name string, r io.Reader) error {
			b, err := io.ReadAll(r)
			assert.NotContains(t, got, name, "ReadFiles(%q) calls twice for %s", tc.names, name)
			got[name] = string(b)
			return err
		})
		require.NoError(t, err, "ReadFiles(%q) (%s)", tc.names, tc.why)
		assert.Equal(t, tc.want, got, "ReadFiles(%q) (%s)", tc.names, tc.why)
		assert.Equal(t, tc.opens, opens.Load(), "ReadFiles(%q) layer reads (%s)", tc.names, tc.why)
	}
}

func TestTreeReadFilesErrors(t *testing.T) {
	var opens atomic.Int32
	tree := loadedTree(t, viewLayers(t, &opens)...)
	errStop := errors.New("stop")
	for _, tc := range []struct {
		names []string
		f     func(string, io.Reader) error
		err   error
	}{
		{[]string{"/etc/passwd", "/a/x"}, nil, ErrNotFound},
		{[]string{"/c/old"}, nil, ErrNotFound},
		{[]string{"/etc/passwd", "/c"}, nil, ErrNotRegular},
		{[]string{"/dangling"}, nil, ErrNotFound},
		{[]string{"/loop1"}, nil, syscall.ELOOP},
		{[]string{"/f/x"}, nil, syscall.ENOTDIR},
		{[]string{"/etc/passwd"}, func(string, io.Reader) error { return errStop }, errStop},
		{[]string{"/a/y", "/hard"}, func(string, io.Reader) error { return errStop }, errStop},
	} {
		calls := 0
		f := tc.f
		if f == nil {
			f = func(string, io.Reader) error { calls++; return nil }
		}
		err := tree.ReadFiles(t.Context(), tc.names, f)
		assert.ErrorIs(t, err, tc.err, "ReadFiles(%q)", tc.names)
		assert.Zero(t, calls, "ReadFiles(%q) calls f before the error", tc.names)
	}
	b, err := tree.ReadFile(t.Context(), "/a/z")
	require.NoError(t, err, "ReadFile(/a/z)")
	assert.Equal(t, "y", string(b), "ReadFile(/a/z): a hardlink reads as its target")
}

// TestTreeOf: trees made from one another index each layer once.
func TestTreeOf(t *testing.T) {
	var opens atomic.Int32
	layers := viewLayers(t, &opens)
	base := mustBuild(t, nil, WithLayers(layers[0]))
	img := mustBuild(t, base, WithLayers(layers[1]))
	opens.Store(0)
	first, err := NewTree(base, "")
	require.NoError(t, err)
	require.NoError(t, first.Load(t.Context()))
	assert.Equal(t, int32(1), opens.Load(), "layer reads to load the base's tree")

	second, err := first.TreeOf(img)
	require.NoError(t, err)
	require.NoError(t, second.Load(t.Context()))
	assert.Equal(t, int32(2), opens.Load(), "layer reads once the image's tree is loaded too: the base's layer is not read again")
	_, _, ok, err := second.Resolve("/c/new")
	require.NoError(t, err)
	assert.True(t, ok, "Resolve(/c/new) in the image's tree")
	_, _, ok, err = first.Resolve("/c/new")
	require.NoError(t, err)
	assert.False(t, ok, "Resolve(/c/new) in the base's tree")
	assert.Equal(t, chainID(configOf(t, img).RootFS.DiffIDs), second.ID())

	_, err = first.TreeOf(nil)
	assert.Error(t, err, "TreeOf(nil)")
}

// TestTreeCacheDir: a tree whose layers are indexed in its cache
// directory reads none of them to load; their files are still read from
// the layers.
func TestTreeCacheDir(t *testing.T) {
	var opens atomic.Int32
	img := mustBuild(t, nil, WithLayers(viewLayers(t, &opens)...))
	cache := t.TempDir()
	for _, want := range []int32{2, 0} {
		opens.Store(0)
		tree, err := NewTree(img, cache)
		require.NoError(t, err)
		require.NoError(t, tree.Load(t.Context()))
		assert.Equal(t, want, opens.Load(), "layer reads to load a tree with the cache directory")
	}
	tree, err := NewTree(img, cache)
	require.NoError(t, err)
	b, err := tree.ReadFile(t.Context(), "/lib/etc/passwd")
	require.NoError(t, err, "ReadFile(/lib/etc/passwd) from cached indexes")
	assert.Equal(t, "root:x:0:0::/root:/bin/sh\n", string(b), "ReadFile(/lib/etc/passwd) from cached indexes")
}

// unreadableLayer cannot be read.
type unreadableLayer struct{ v1.Layer }

func (unreadableLayer) Uncompressed() (io.ReadCloser, error) { return nil, errors.New("gone") }

func TestTreeLayerError(t *testing.T) {
	img, err := mutate.AppendLayers(empty.Image, unreadableLayer{tarLayer(t, types.OCILayer, tarFile{name: "x"})})
	require.NoError(t, err)
	tree, err := NewTree(img, "")
	require.NoError(t, err)
	_, err = tree.ReadFile(t.Context(), "/x")
	assert.ErrorContains(t, err, "gone", "ReadFile(/x) of a layer that cannot be read")
	_, _, ok, err := tree.Resolve("/x")
	assert.NoError(t, err)
	assert.False(t, ok, "Resolve(/x) after a failed Load")
}

// TestBuildWithTrees: Build with WithTrees places its layers on a tree
// made with the given tree's indexes: base layers that tree indexed are
// not read again (without it, Build reads them to place the layer).
func TestBuildWithTrees(t *testing.T) {
	var opens atomic.Int32
	base := mustBuild(t, nil, WithLayers(viewLayers(t, &opens)...))
	add, err := layer.FromFiles([]layer.File{{Path: "/etc/motd", Data: []byte("hi\n")}})
	require.NoError(t, err)

	trees, err := NewTree(base, "")
	require.NoError(t, err)
	require.NoError(t, trees.Load(t.Context()))
	opens.Store(0)
	with, err := Build(t.Context(), base, WithTrees(trees), WithLayers(add))
	require.NoError(t, err)
	assert.Zero(t, opens.Load(), "base layer reads of Build with WithTrees of a loaded tree")

	without, err := Build(t.Context(), base, WithLayers(add))
	require.NoError(t, err)
	assert.NotZero(t, opens.Load(), "base layer reads of Build without WithTrees")
	assert.Equal(t, digestOf(t, without), digestOf(t, with), "the image is the same either way")
}

// TestTreeReadFileDuplicateEntry: a layer that holds a path twice (tar
// --append makes such layers) has the later entry's file, as extraction
// leaves it: ReadFile reads that one, whose digest Lookup reports.
func TestTreeReadFileDuplicateEntry(t *testing.T) {
	var opens atomic.Int32
	// ggcr's validate.Image refuses such a layer: no mustBuild.
	img, err := mutate.AppendLayers(empty.Image, countedLayer(t, &opens,
		tarFile{name: "etc/motd", body: "first\n"},
		tarFile{name: "etc/other", body: "other\n"},
		tarFile{name: "etc/motd", body: "second\n"},
	))
	require.NoError(t, err)
	tree, err := NewTree(img, "")
	require.NoError(t, err)
	require.NoError(t, tree.Load(t.Context()))
	n, ok := tree.Lookup("/etc/motd")
	require.True(t, ok, "Lookup(/etc/motd)")
	assert.Equal(t, "sha256:"+sha256Hex("second\n"), n.Digest.String(), "Lookup(/etc/motd).Digest")
	got, err := tree.ReadFile(t.Context(), "/etc/motd")
	require.NoError(t, err)
	assert.Equal(t, "second\n", string(got), "ReadFile(/etc/motd)")
}

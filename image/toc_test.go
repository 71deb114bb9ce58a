package image

import (
	"context"
	"errors"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/internal/lazypull"
	"github.com/stevedore-dev/stevedore/layer"
)

// lazyBase is an image of three layers, read back from an OCI layout:
// eStargz, zstd:chunked (which deletes a file of the first and adds
// some), and gzip.
func lazyBase(t testing.TB) v1.Image {
	t.Helper()
	zc, err := layer.New(context.Background(), []layer.Source{
		layer.Deletions("/app/current"),
		layer.Files([]layer.File{{Path: "/app/new", Data: []byte("new")}, {Path: "/var/cache/app/x", Data: []byte("x")}}),
	}, layer.WithCompression(layer.ZstdChunked))
	require.NoError(t, err)
	gz, err := layer.FromFiles([]layer.File{{Path: "/etc/conf", Data: []byte("k=v\n")}})
	require.NoError(t, err)
	return throughLayout(t, mustBuild(t, nil, WithLayers(lazyLayer(t, layer.EStargz, 3), zc, gz)))
}

// throughLayout writes img to an OCI layout and reads it back.
func throughLayout(t testing.TB, img v1.Image) v1.Image {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "layout")
	require.NoError(t, WriteOCILayout(t.Context(), dir, img, WithRefName("v1")))
	lay, err := ReadOCILayout(dir)
	require.NoError(t, err)
	read, err := lay.Image("v1")
	require.NoError(t, err)
	return read
}

// noDecompress is a base layer that must not be decompressed; its
// compressed reader has no ReadAt, as a registry's.
type noDecompress struct {
	v1.Layer
	t testing.TB
}

func (l noDecompress) Uncompressed() (io.ReadCloser, error) {
	l.t.Error("Uncompressed() of a layer with a table of contents")
	return nil, errors.New("no")
}

func (l noDecompress) Compressed() (io.ReadCloser, error) {
	rc, err := l.Layer.Compressed()
	return io.NopCloser(rc), err
}

// inPlace is a base layer read in place (as a layout's), counting the
// bytes read, sequentially or not; it must not be decompressed.
type inPlace struct {
	noDecompress
	read *atomic.Int64
}

func (l inPlace) Compressed() (io.ReadCloser, error) {
	rc, err := l.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	ra, ok := rc.(io.ReaderAt)
	require.True(l.t, ok, "the layout blob's reader has ReadAt")
	return counting{rc, ra, l.read}, nil
}

type counting struct {
	rc io.ReadCloser
	ra io.ReaderAt
	n  *atomic.Int64
}

func (c counting) Read(p []byte) (int, error) {
	n, err := c.rc.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (c counting) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.ra.ReadAt(p, off)
	c.n.Add(int64(n))
	return n, err
}

func (c counting) Close() error { return c.rc.Close() }

// baseTree is the Tree of img with its layers wrapped by wrap (for the
// layers with a TOC digest) and its descriptors' annotations changed by
// edit, indexed with the cache dir.
func baseTree(t testing.TB, img v1.Image, cacheDir string, wrap func(v1.Layer) v1.Layer, edit func(map[string]string) map[string]string) *Tree {
	t.Helper()
	ls, err := img.Layers()
	require.NoError(t, err)
	m := manifestOf(t, img)
	descs := slices.Clone(m.Layers)
	for i, d := range descs {
		if _, ok := d.Annotations[lazypull.AnnotationTOCDigest]; ok {
			ls[i] = wrap(ls[i])
			descs[i].Annotations = edit(maps.Clone(d.Annotations))
		}
	}
	return newTree(ls, descs, configOf(t, img).RootFS.DiffIDs, newIndexer(cacheDir), true)
}

func nodesOf(t testing.TB, tr *Tree) []layer.Node {
	t.Helper()
	require.NoError(t, tr.Load(t.Context()))
	return slices.Collect(tr.All())
}

// TestTreeFromTOC: the file tree of a base whose layers are eStargz and
// zstd:chunked is read from their tables of contents, equal to the tree
// read by decompressing them: in place (a small part of each blob read)
// or from a downloaded copy, never decompressed; with a TOC digest that
// does not match, from the decompressed copy; and kept in the cache.
func TestTreeFromTOC(t *testing.T) {
	img := lazyBase(t)
	same := func(l v1.Layer) v1.Layer { return l }
	keep := func(a map[string]string) map[string]string { return a }
	strip := func(map[string]string) map[string]string { return nil }
	want := nodesOf(t, baseTree(t, img, "", same, strip))
	var names []string
	for _, n := range want {
		names = append(names, n.Name)
	}
	assert.Subset(t, names, []string{lazypull.TOCTarName, lazypull.PrefetchLandmark, "app/run", "app/new", "etc/conf"},
		"the decompressed layers' tree")
	assert.NotContains(t, names, "app/current", "the tree (deleted by the second layer)")

	var read atomic.Int64
	var blobs int64
	for _, d := range manifestOf(t, img).Layers {
		if _, ok := d.Annotations[lazypull.AnnotationTOCDigest]; ok {
			blobs += d.Size
		}
	}
	cache := t.TempDir()
	inplace := func(l v1.Layer) v1.Layer { return inPlace{noDecompress{l, t}, &read} }
	assert.Equal(t, want, nodesOf(t, baseTree(t, img, cache, inplace, keep)), "tree from the TOCs, in place")
	assert.Less(t, read.Load(), blobs/4, "bytes read in place of %d", blobs)

	download := func(l v1.Layer) v1.Layer { return noDecompress{l, t} }
	assert.Equal(t, want, nodesOf(t, baseTree(t, img, "", download, keep)), "tree from the TOCs, downloaded")

	wrong := func(a map[string]string) map[string]string {
		a[lazypull.AnnotationTOCDigest] = "sha256:" + strings.Repeat("0", 64)
		return a
	}
	assert.Equal(t, want, nodesOf(t, baseTree(t, img, "", download, wrong)), "tree with a TOC digest that does not match")
	assert.Equal(t, want, nodesOf(t, baseTree(t, img, "", inplace, wrong)), "tree with a TOC digest that does not match, in place")

	untouched := func(l v1.Layer) v1.Layer { return untouchableLayer{l, t} }
	assert.Equal(t, want, nodesOf(t, baseTree(t, img, cache, untouched, keep)), "tree from the cache")
}

// TestSkipUnchangedWithTOC: WithSkipUnchanged compares files with the
// content digests of the tree below, which an eStargz or zstd:chunked
// layer's table of contents gives, for a base's layers and for the layers
// added before, without decompressing them.
func TestSkipUnchangedWithTOC(t *testing.T) {
	for _, c := range lazyCompressions {
		read := throughLayout(t, mustBuild(t, nil, WithLayers(lazyLayer(t, c, 4))))

		run := []layer.File{{Path: "/app/run", Data: []byte("#!/bin/sh\necho run\n"), Mode: 0o755}}
		again, err := layer.FromFiles(append(run, layer.File{Path: "/app/new", Data: []byte("new")}))
		require.NoError(t, err)
		added, err := layer.FromFiles([]layer.File{{Path: "/opt/tool", Data: []byte("tool"), Mode: 0o755}}, layer.WithCompression(c))
		require.NoError(t, err)
		toolAgain, err := layer.FromFiles([]layer.File{{Path: "/opt/tool", Data: []byte("tool"), Mode: 0o755}, {Path: "/opt/other", Data: []byte("o")}})
		require.NoError(t, err)
		tocOnly := layersWrapped{read, func(l v1.Layer) v1.Layer { return noDecompress{l, t} }} // must not be decompressed
		img, err := Build(t.Context(), tocOnly, WithLayers(again, added, toolAgain), WithSkipUnchanged())
		require.NoError(t, err)
		ls, err := img.Layers()
		require.NoError(t, err)
		n := len(ls)
		assert.Equal(t, []string{"app/new"}, layerNames(t, ls[n-3]), "%v base: the layer repeating /app/run", c)
		assert.Equal(t, []string{"opt/other"}, layerNames(t, ls[n-1]), "%v layer below: the layer repeating /opt/tool", c)
	}
}

package image

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"iter"
	"path"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/stevedore-dev/stevedore/internal/cache"
	"github.com/stevedore-dev/stevedore/internal/fstree"
	"github.com/stevedore-dev/stevedore/internal/tarx"
	"github.com/stevedore-dev/stevedore/layer"
)

// Tree is the file tree of an image: what a container started from it
// sees at each path, every layer applied with its whiteouts and opaque
// directories. For each path it tells the type, mode, owner, link target,
// size and, for regular files, the sha256 of the content; [Tree.ReadFile]
// reads a file's content.
//
// A Tree implements layer.Base: [Build] places the layers of package
// layer on the Tree of the image below them. Nothing is read until
// [Tree.Load]; each layer is then indexed once: downloaded and
// decompressed, or read from the cache directory given to [NewTree], or,
// for an eStargz or zstd:chunked layer (its descriptor names a table of
// contents, see layer.Annotated), read from the table of contents at the
// end of its blob without decompressing it (see [Build]).
type Tree struct {
	layers  []v1.Layer
	descs   []v1.Descriptor // the layers' manifest descriptors
	diffIDs []v1.Hash
	id      string
	ix      *indexer
	// full: every regular file's content digest is wanted (the layers of
	// package layer then are read, not listed).
	full bool

	mu   sync.Mutex
	tree *fstree.Tree
}

var _ layer.Base = (*Tree)(nil)

// NewTree returns the file tree of img. It reads img's config and layer
// list only. cacheDir, when not empty, keeps the index of each layer (the
// layer package's cache directory serves, see layer.WithCache), so that a
// layer already indexed costs neither a download nor a decompression.
func NewTree(img v1.Image, cacheDir string) (*Tree, error) {
	if img == nil {
		return nil, errors.New("image: NewTree: nil image")
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image: config of %s: %w", "the image", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("image: layers: %w", err)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("image: manifest: %w", err)
	}
	if len(layers) != len(cf.RootFS.DiffIDs) || len(m.Layers) != len(layers) {
		return nil, fmt.Errorf("image: %d layers, %d in the manifest and %d diff_ids: %w",
			len(layers), len(m.Layers), len(cf.RootFS.DiffIDs), ErrUnsupportedBase)
	}
	return newTree(layers, m.Layers, cf.RootFS.DiffIDs, newIndexer(cacheDir), true), nil
}

func newTree(layers []v1.Layer, descs []v1.Descriptor, diffIDs []v1.Hash, ix *indexer, full bool) *Tree {
	return &Tree{layers: layers, descs: descs, diffIDs: diffIDs, id: chainID(diffIDs), ix: ix, full: full}
}

// with returns the tree of t with l, described by d, on top.
func (t *Tree) with(l v1.Layer, d v1.Descriptor, diffID v1.Hash) *Tree {
	n := len(t.layers)
	return newTree(append(t.layers[:n:n], l), append(t.descs[:n:n], d), append(t.diffIDs[:n:n], diffID), t.ix, t.full)
}

// ID is the chain ID of the image's diff IDs
// (https://github.com/opencontainers/image-spec/blob/main/config.md#layer-chainid):
// two images with the same ID have the same files. It is "" for an image
// without layers.
func (t *Tree) ID() string { return t.id }

// Load indexes every layer that is not indexed yet. It is safe to call
// several times.
func (t *Tree) Load(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.tree != nil {
		return nil
	}
	tr := fstree.New()
	for i, l := range t.layers {
		nodes, err := t.ix.index(ctx, l, t.descs[i], t.diffIDs[i], t.full)
		if err != nil {
			return fmt.Errorf("image: indexing layer %d (%s): %w", i, t.diffIDs[i], err)
		}
		tr.Apply(nodes)
	}
	t.tree = tr
	return nil
}

// loaded returns the loaded tree, or nil before Load.
func (t *Tree) loaded() *fstree.Tree {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.tree
}

// Lookup returns what the image has at name ("/etc/passwd" or
// "etc/passwd"), without following symlinks. It finds nothing before
// [Tree.Load].
func (t *Tree) Lookup(name string) (layer.Node, bool) {
	tr := t.loaded()
	if tr == nil {
		return layer.Node{}, false
	}
	n, ok := tr.Lookup(clean(name))
	if !ok {
		return layer.Node{}, false
	}
	return toNode(n), true
}

// All yields every path of the image, sorted. It yields nothing before
// [Tree.Load].
func (t *Tree) All() iter.Seq[layer.Node] {
	return func(yield func(layer.Node) bool) {
		tr := t.loaded()
		if tr == nil {
			return
		}
		for n := range tr.All() {
			if !yield(toNode(n)) {
				return
			}
		}
	}
}

// ErrNotRegular reports a path that is not a regular file where one is
// read.
var ErrNotRegular = errors.New("image: not a regular file")

// ReadFile returns the content of the regular file at name, following
// symlinks as a container would (absolute targets from the image root).
// It loads the tree if needed and reads the one layer that holds the
// file, up to the file. A path the image does not have is an error
// wrapping ErrNotFound.
func (t *Tree) ReadFile(ctx context.Context, name string) ([]byte, error) {
	if err := t.Load(ctx); err != nil {
		return nil, err
	}
	tr := t.loaded()
	p, err := tr.Resolve(clean(name))
	if err != nil {
		return nil, fmt.Errorf("image: reading %s: %w", name, err)
	}
	n, ok := tr.Lookup(p)
	switch {
	case !ok:
		return nil, fmt.Errorf("image: reading %s: %w", name, ErrNotFound)
	case n.Type != tar.TypeReg:
		return nil, fmt.Errorf("image: reading %s: %w", name, ErrNotRegular)
	}
	return readFromLayer(ctx, t.layers[tr.Origin(p)], p, n.Size)
}

// readFromLayer reads the content of name from one layer's tar, following
// hardlinks within it.
func readFromLayer(ctx context.Context, l v1.Layer, name string, size int64) ([]byte, error) {
	rc, err := l.Uncompressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	want := map[string]bool{name: true}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("image: %s is not in its layer: %w", name, ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("image: reading %s: %w", name, err)
		}
		n, err := tarx.SourceName(h.Name)
		if err != nil {
			continue
		}
		if h.Typeflag == tar.TypeLink && want[n] {
			// A hardlink to a file written earlier in the layer would
			// have been found first; one to a later name is followed.
			if t, err := tarx.SourceName(h.Linkname); err == nil {
				want[t] = true
			}
			continue
		}
		if want[n] && (h.Typeflag == tar.TypeReg || h.Typeflag == tar.TypeRegA) {
			return io.ReadAll(io.LimitReader(tr, size))
		}
	}
}

func clean(name string) string {
	return strings.TrimPrefix(path.Clean("/"+name), "/")
}

func toNode(n tarx.Node) layer.Node {
	out := layer.Node{Name: n.Name, Type: n.Type, Mode: n.Mode, UID: n.UID, GID: n.GID, Linkname: n.Linkname, Size: n.Size}
	if h, err := v1.NewHash(n.Digest); err == nil {
		out.Digest = h
	}
	return out
}

// chainID is the OCI chain ID of diffIDs, "" for none.
func chainID(diffIDs []v1.Hash) string {
	if len(diffIDs) == 0 {
		return ""
	}
	id := diffIDs[0].String()
	for _, d := range diffIDs[1:] {
		s := sha256.Sum256([]byte(id + " " + d.String()))
		id = "sha256:" + hex.EncodeToString(s[:])
	}
	return id
}

// indexer indexes layers once: in memory for the process, and in the
// cache directory when there is one.
type indexer struct {
	cacheDir string

	mu   sync.Mutex
	mem  map[v1.Hash][]tarx.Node
	full map[v1.Hash]bool // the entry of mem has content digests
}

func newIndexer(cacheDir string) *indexer {
	return &indexer{cacheDir: cacheDir, mem: map[v1.Hash][]tarx.Node{}, full: map[v1.Hash]bool{}}
}

// index returns the entries of l, whose manifest descriptor is d and diff
// ID is diffID; with full, with the content digest of every regular file.
func (ix *indexer) index(ctx context.Context, l v1.Layer, d v1.Descriptor, diffID v1.Hash, full bool) ([]tarx.Node, error) {
	ix.mu.Lock()
	nodes, ok := ix.mem[diffID]
	isFull := ix.full[diffID]
	ix.mu.Unlock()
	if ok && (isFull || !full) {
		return nodes, nil
	}
	var c *cache.Cache
	if ix.cacheDir != "" {
		var err error
		if c, err = cache.Open(ix.cacheDir); err != nil {
			return nil, err
		}
		if nodes, ok := fstree.Load(c, fstree.Full, diffID); ok {
			ix.remember(diffID, nodes, true)
			return nodes, nil
		}
	}
	if lister, ok := l.(layer.Lister); ok && !full {
		// A layer of package layer knows its entries (without content
		// digests) from its build, or from its cache entry.
		files, err := lister.Files(ctx)
		if err != nil {
			return nil, err
		}
		nodes := make([]tarx.Node, len(files))
		for i, f := range files {
			nodes[i] = tarx.Node{Name: f.Name, Type: f.Type, Mode: f.Mode, UID: f.UID, GID: f.GID, Linkname: f.Linkname, Size: f.Size}
		}
		ix.remember(diffID, nodes, false)
		return nodes, nil
	}
	nodes, err := ix.read(ctx, l, d)
	if err != nil {
		return nil, err
	}
	if c != nil {
		// A cache that cannot be written only costs the next build time.
		_ = fstree.Store(c, fstree.Full, diffID, nodes)
	}
	ix.remember(diffID, nodes, true)
	return nodes, nil
}

// read indexes l by reading it: from its table of contents when its
// descriptor names one (see readTOC), else decompressed.
func (ix *indexer) read(ctx context.Context, l v1.Layer, d v1.Descriptor) ([]tarx.Node, error) {
	if nodes, ok, err := readTOC(ctx, l, d); ok {
		return nodes, err
	}
	rc, err := l.Uncompressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return fstree.Index(ctx, rc)
}

func (ix *indexer) remember(d v1.Hash, nodes []tarx.Node, full bool) {
	ix.mu.Lock()
	ix.mem[d], ix.full[d] = nodes, full
	ix.mu.Unlock()
}

package image

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"maps"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"syscall"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/stevedore-dev/stevedore/internal/ctxio"
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

	// below, when not nil, is the tree t adds its last layer to: Load
	// starts from a copy of its tree when it is loaded.
	below *Tree

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
	return &Tree{layers: layers, descs: descs, diffIDs: diffIDs, id: treeID(descs, diffIDs), ix: ix, full: full}
}

// treeID is the ID of the tree of the layers of descriptors descs and
// diff IDs diffIDs (see Tree.ID): their chain ID, in which a layer whose
// descriptor names a table of contents counts by its diff ID and the
// table's digest. Such a layer may be indexed from the table, which
// checks the table's digest, not the diff ID the config claims.
func treeID(descs []v1.Descriptor, diffIDs []v1.Hash) string {
	ids := slices.Clone(diffIDs)
	for i, d := range descs {
		if toc, ok := tocKey(d); ok && i < len(ids) {
			s := sha256.Sum256([]byte(ids[i].String() + " " + toc.d.String()))
			ids[i] = v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(s[:])}
		}
	}
	return chainID(ids)
}

// with returns the tree of t with l, described by d, on top.
func (t *Tree) with(l v1.Layer, d v1.Descriptor, diffID v1.Hash) *Tree {
	n := len(t.layers)
	u := newTree(append(t.layers[:n:n], l), append(t.descs[:n:n], d), append(t.diffIDs[:n:n], diffID), t.ix, t.full)
	u.below = t
	return u
}

// ID is the chain ID of the image's diff IDs
// (https://github.com/opencontainers/image-spec/blob/main/config.md#layer-chainid):
// two images with the same ID have the same files. An eStargz or
// zstd:chunked layer, which is indexed from its table of contents, counts
// with the digest of that table too, so its ID is not the chain ID. It is
// "" for an image without layers.
func (t *Tree) ID() string { return t.id }

// Load indexes every layer that is not indexed yet. It is safe to call
// several times.
func (t *Tree) Load(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.tree != nil {
		return nil
	}
	tr, from := fstree.New(), 0
	if t.below != nil {
		// Layers placed one on another (see Build) load a tree each:
		// start from the one below rather than from the base again.
		if b := t.below.loaded(); b != nil {
			tr, from = b.Clone(), len(t.layers)-1
		}
	}
	for i := from; i < len(t.layers); i++ {
		l := t.layers[i]
		nodes, err := t.ix.index(ctx, l, t.descs[i], t.diffIDs[i], t.full)
		if err != nil {
			return fmt.Errorf("image: indexing layer %d (%s): %w", i, t.diffIDs[i], err)
		}
		tr.Apply(nodes)
	}
	t.tree, t.below = tr, nil
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
// symlinks as [Tree.Resolve] does (absolute targets from the image root);
// a hardlink reads as its target. It loads the tree if needed and reads
// the one layer that holds the file, up to the file. A path the image
// does not have is an error wrapping ErrNotFound.
func (t *Tree) ReadFile(ctx context.Context, name string) ([]byte, error) {
	var out []byte
	err := t.ReadFiles(ctx, []string{name}, func(_ string, r io.Reader) error {
		var err error
		out, err = io.ReadAll(r)
		return err
	})
	return out, err
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

// TreeOf returns the file tree of img, as NewTree does with t's cache
// directory, sharing t's layer indexes in memory: a layer that t, or any
// tree made from t this way, has indexed is not indexed again. A program
// that looks at many images with layers in common (the stages of a
// Dockerfile, each one layer more than the last) indexes each layer
// once.
func (t *Tree) TreeOf(img v1.Image) (*Tree, error) {
	nt, err := NewTree(img, "")
	if err != nil {
		return nil, err
	}
	nt.ix = t.ix
	return nt, nil
}

// rootNode is what an image has at its root.
var rootNode = layer.Node{Type: tar.TypeDir, Mode: 0o755}

// Resolve follows the symlinks of every element of name ("/usr/lib/x" or
// "usr/lib/x") as a container would, absolute targets from the image
// root, and returns the clean relative path reached ("" for the root, a
// directory 0755 owned by root) and what the image has there, never a
// symlink. ".." never climbs above the root: a relative link that would
// leave it resolves from the root, as in a container, and as docker
// build's COPY resolves its paths.
//
// ok is false when the image has nothing at the path; the path returned
// is then where an entry created at name would land. A loop (more than 40
// links) is an error wrapping syscall.ELOOP, a path through something
// that is not a directory one wrapping syscall.ENOTDIR. Resolve finds
// nothing before [Tree.Load].
func (t *Tree) Resolve(name string) (string, layer.Node, bool, error) {
	tr := t.loaded()
	if tr == nil {
		return clean(name), layer.Node{}, false, nil
	}
	p, err := tr.ResolveInRoot(clean(name))
	if err != nil {
		return "", layer.Node{}, false, fmt.Errorf("image: %w", &fs.PathError{Op: "resolve", Path: "/" + clean(name), Err: syscall.ELOOP})
	}
	if p == "" {
		return "", rootNode, true, nil
	}
	if n, ok := tr.Lookup(p); ok {
		return p, toNode(n), true, nil
	}
	// The first parent the image has tells a missing name from one below
	// a file.
	for d := path.Dir(p); d != "."; d = path.Dir(d) {
		if n, ok := tr.Lookup(d); ok {
			if n.Type != tar.TypeDir {
				return "", layer.Node{}, false, fmt.Errorf("image: %w", &fs.PathError{Op: "resolve", Path: "/" + clean(name), Err: syscall.ENOTDIR})
			}
			break
		}
	}
	return p, layer.Node{}, false, nil
}

// ReadFiles calls f with the content of each regular file of names,
// symlinks followed as [Tree.Resolve] follows them; a hardlink reads as
// its target. It loads the tree if needed, then reads each layer that
// holds one of the files once, lowest layer first, up to the last of
// them: f is called one file at a time, in the order the layers hold
// them, once for each distinct name, with r valid until it returns.
//
// A name the image does not have is an error wrapping ErrNotFound, one
// that is not a regular file an error wrapping ErrNotRegular, and
// nothing is read then. An error of f stops the reading and is returned.
func (t *Tree) ReadFiles(ctx context.Context, names []string, f func(name string, r io.Reader) error) error {
	if err := t.Load(ctx); err != nil {
		return err
	}
	tr := t.loaded()
	wants := map[int]map[tarEntryRef][]string{} // layer -> entry -> names
	for _, name := range names {
		p, n, ok, err := t.Resolve(name)
		switch {
		case err != nil:
			return fmt.Errorf("image: reading %s: %w", name, err)
		case !ok:
			return fmt.Errorf("image: reading %s: %w", name, ErrNotFound)
		case n.Type != tar.TypeReg:
			return fmt.Errorf("image: reading %s: %w", name, ErrNotRegular)
		}
		l, ename, nth := tr.Content(p)
		entry := tarEntryRef{ename, nth}
		if wants[l] == nil {
			wants[l] = map[tarEntryRef][]string{}
		}
		if !slices.Contains(wants[l][entry], name) {
			wants[l][entry] = append(wants[l][entry], name)
		}
	}
	for _, l := range slices.Sorted(maps.Keys(wants)) {
		if err := readEntries(ctx, t.layers[l], wants[l], f); err != nil {
			return fmt.Errorf("image: reading layer %d (%s): %w", l, t.diffIDs[l], err)
		}
	}
	return nil
}

// tarEntryRef is the nth (from 0) of the entries named name in a tar.
type tarEntryRef struct {
	name string
	nth  int
}

// readEntries reads l up to the last entry of want (entry -> the names f
// is called with for its content).
func readEntries(ctx context.Context, l v1.Layer, want map[tarEntryRef][]string, f func(name string, r io.Reader) error) error {
	rc, err := l.Uncompressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	tr := tar.NewReader(ctxio.Reader(ctx, rc))
	seen := map[string]int{} // entries of each name so far
	for len(want) > 0 {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			var missing []string
			for e := range want {
				missing = append(missing, e.name)
			}
			return fmt.Errorf("/%s is not in its layer: %w", slices.Min(missing), ErrNotFound)
		}
		if err != nil {
			return err
		}
		name, err := tarx.SourceName(h.Name)
		if err != nil {
			continue
		}
		e := tarEntryRef{name, seen[name]}
		seen[name]++
		names, ok := want[e]
		if !ok || (h.Typeflag != tar.TypeReg && h.Typeflag != tar.TypeRegA && h.Typeflag != tar.TypeGNUSparse) {
			continue
		}
		delete(want, e)
		if err := serve(tr, names, f); err != nil {
			return err
		}
	}
	return nil
}

// serve calls f with r for each of names; the content is spooled to a
// temp file when there are several.
func serve(r io.Reader, names []string, f func(name string, r io.Reader) error) error {
	if len(names) == 1 {
		return f(names[0], r)
	}
	spool, err := os.CreateTemp("", "stevedore-tree-*")
	if err != nil {
		return err
	}
	// Unlinked at once where the system allows: nothing is left behind,
	// however the process ends.
	unlinked := os.Remove(spool.Name()) == nil
	defer func() {
		spool.Close()
		if !unlinked {
			os.Remove(spool.Name())
		}
	}()
	n, err := io.Copy(spool, r)
	if err != nil {
		return err
	}
	for _, name := range names {
		if err := f(name, io.NewSectionReader(spool, 0, n)); err != nil {
			return err
		}
	}
	return nil
}

package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/stevedore-dev/stevedore/internal/cache"
	"github.com/stevedore-dev/stevedore/internal/compress"
	"github.com/stevedore-dev/stevedore/internal/ctxio"
	"github.com/stevedore-dev/stevedore/internal/fstree"
	"github.com/stevedore-dev/stevedore/internal/lazypull"
	"github.com/stevedore-dev/stevedore/internal/mediatype"
	"github.com/stevedore-dev/stevedore/internal/tarx"
	"github.com/stevedore-dev/stevedore/layer"
)

// indexer indexes layers once: in memory for the process, and in the
// cache directory when there is one. An index is kept under what its
// read checked (see indexKey), never under what an image merely claims:
// a shared cache must not serve one image's index for another's layer.
type indexer struct {
	cacheDir string

	mu    sync.Mutex
	mem   map[indexKey]memIndex
	cache *cache.Cache // cacheDir, once opened (see openCache)
}

// indexKey names a layer's index by what reading the layer checked: its
// diff ID, which a read of the whole tar hashes, or the digest of a lazy
// layer's table of contents (TOC), which is all an index read from the
// TOC checks.
type indexKey struct {
	kind fstree.Kind
	d    v1.Hash
}

// memIndex is an index kept in memory; full says it has content digests
// (an index from a layer's own Lister has none).
type memIndex struct {
	nodes []tarx.Node
	full  bool
}

func newIndexer(cacheDir string) *indexer {
	return &indexer{cacheDir: cacheDir, mem: map[indexKey]memIndex{}}
}

// openCache opens the cache directory on first use (creating it and
// clearing its stale temp files) and keeps it for the other layers.
func (ix *indexer) openCache() (*cache.Cache, error) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.cache == nil {
		c, err := cache.Open(ix.cacheDir)
		if err != nil {
			return nil, err
		}
		ix.cache = c
	}
	return ix.cache, nil
}

// index returns the entries of l, whose manifest descriptor is d and diff
// ID is diffID; with full, with the content digest of every regular file.
func (ix *indexer) index(ctx context.Context, l v1.Layer, d v1.Descriptor, diffID v1.Hash, full bool) ([]tarx.Node, error) {
	keys := []indexKey{{fstree.Full, diffID}}
	if toc, ok := tocKey(d); ok {
		keys = append(keys, toc)
	}
	if nodes, ok := ix.recall(keys, full); ok {
		return nodes, nil
	}
	var c *cache.Cache
	if ix.cacheDir != "" {
		var err error
		if c, err = ix.openCache(); err != nil {
			return nil, err
		}
		for _, k := range keys {
			if nodes, ok := fstree.Load(c, k.kind, k.d); ok {
				ix.remember(k, nodes, true)
				return nodes, nil
			}
		}
	}
	if lister, ok := l.(layer.Lister); ok && !full {
		// A layer of package layer knows its entries (without content
		// digests) from its build, or from its cache entry; its diff ID
		// is the one its build computed, which the config must give it.
		own, err := l.DiffID()
		if err != nil {
			return nil, err
		}
		if own != diffID {
			return nil, fmt.Errorf("%w: layer %s: its diff ID is %s, the config says %s", ErrUnsupportedBase, d.Digest, own, diffID)
		}
		files, err := lister.Files(ctx)
		if err != nil {
			return nil, err
		}
		nodes := make([]tarx.Node, len(files))
		for i, f := range files {
			nodes[i] = tarx.Node{Name: f.Name, Type: f.Type, Mode: f.Mode, UID: f.UID, GID: f.GID, Linkname: f.Linkname, Size: f.Size}
		}
		ix.remember(keys[0], nodes, false)
		return nodes, nil
	}
	nodes, k, err := ix.read(ctx, l, d, diffID)
	if err != nil {
		return nil, err
	}
	if c != nil {
		// A cache that cannot be written only costs the next build time.
		_ = fstree.Store(c, k.kind, k.d, nodes)
	}
	ix.remember(k, nodes, true)
	return nodes, nil
}

// read indexes l by reading it: from its table of contents when its
// descriptor names one (see readTOC), else decompressed, checking that
// the tar hashes to diffID. It returns the key the index is kept under.
func (ix *indexer) read(ctx context.Context, l v1.Layer, d v1.Descriptor, diffID v1.Hash) ([]tarx.Node, indexKey, error) {
	if nodes, k, ok, err := readTOC(ctx, l, d, diffID); ok {
		return nodes, k, err
	}
	rc, err := l.Uncompressed()
	if err != nil {
		return nil, indexKey{}, err
	}
	defer rc.Close()
	nodes, err := indexChecked(ctx, rc, d, diffID)
	return nodes, indexKey{fstree.Full, diffID}, err
}

// indexChecked indexes the uncompressed tar r of the layer of descriptor
// d, and checks that r, read to its end, hashes to diffID: the image's
// config may claim any diff ID, and the index is kept under it.
func indexChecked(ctx context.Context, r io.Reader, d v1.Descriptor, diffID v1.Hash) ([]tarx.Node, error) {
	if diffID.Algorithm != "sha256" {
		return nil, fmt.Errorf("%w: layer %s: diff ID %s is not a sha256", ErrUnsupportedBase, d.Digest, diffID)
	}
	// The diff ID is hashed on another goroutine: indexing decompresses
	// and hashes every file on this one.
	h := sha256.New()
	hw := compress.NewAsyncWriter(h)
	defer hw.Close()
	tee := io.TeeReader(r, hw)
	nodes, err := fstree.Index(ctx, tee)
	if err != nil {
		return nil, err
	}
	// What follows the tar's end counts for the diff ID too.
	if _, err := io.Copy(io.Discard, ctxio.Reader(ctx, tee)); err != nil {
		return nil, fmt.Errorf("indexing layer: %w", err)
	}
	if err := hw.Close(); err != nil {
		return nil, err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != diffID.Hex {
		return nil, fmt.Errorf("%w: layer %s: its tar has diff ID sha256:%s, the config says %s", ErrUnsupportedBase, d.Digest, got, diffID)
	}
	return nodes, nil
}

// tocKey is the key of the index of a lazy layer read from its table of
// contents, when its descriptor d names a TOC digest (see readTOC).
func tocKey(d v1.Descriptor) (indexKey, bool) {
	toc, named := d.Annotations[lazypull.AnnotationTOCDigest]
	k, known := mediatype.LayerKind(d.MediaType)
	if !named || !known || k.Compression == compress.None {
		return indexKey{}, false
	}
	h, err := v1.NewHash(toc)
	if err != nil {
		return indexKey{}, false
	}
	return indexKey{fstree.TOC, h}, true
}

// recall returns the first index kept in memory under one of keys (with
// content digests when full).
func (ix *indexer) recall(keys []indexKey, full bool) ([]tarx.Node, bool) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for _, k := range keys {
		if m, ok := ix.mem[k]; ok && (m.full || !full) {
			return m.nodes, true
		}
	}
	return nil, false
}

func (ix *indexer) remember(k indexKey, nodes []tarx.Node, full bool) {
	ix.mu.Lock()
	ix.mem[k] = memIndex{nodes, full}
	ix.mu.Unlock()
}

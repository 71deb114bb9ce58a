package layer

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"runtime"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/stevedore-dev/stevedore/internal/cache"
	"github.com/stevedore-dev/stevedore/internal/compress"
	"github.com/stevedore-dev/stevedore/internal/tarx"
)

// layer is the v1.Layer built by New. Its bytes are produced on first use,
// once, into a spool file or a cache entry.
type layer struct {
	ctx       context.Context
	srcs      []Source
	comp      Compression
	level     int
	conc      int
	mediaType types.MediaType
	tempDir   string
	cacheDir  string
	share     cacheShare
	createdBy string
	placement Placement
	// prioritized are the WithPrioritizedFiles paths (lazy formats only).
	prioritized []string

	// mu serialises builds; done and err keep the outcome of the first
	// build that was not stopped by a caller's own context (see Compute).
	mu    sync.Mutex
	done  bool
	err   error
	res   result
	blob  blob
	preps []*prepared // the sources' rules of the build, for Facts
	files []Node      // what the built layer holds; nil until asked for on a cache hit
	hit   bool        // served from the cache
	// stored is the layer as the remote cache holds it, when the build
	// found it there or put it there.
	stored v1.Layer

	cacheMu sync.Mutex
	cache   *cache.Cache // the local cache once opened (see localCache)
}

var (
	_ Placeable  = (*layer)(nil)
	_ Computable = (*layer)(nil)
	_ Describer  = (*layer)(nil)
	_ Lister     = (*layer)(nil)
	_ Annotated  = (*layer)(nil)
	_ Cached     = (*layer)(nil)
	_ Shared     = (*layer)(nil)
)

// result is what one pass over the sources yields.
type result struct {
	digest, diffID v1.Hash
	size           int64
	annotations    map[string]string // the lazy formats' descriptor annotations
	tarSize        int64             // bytes of the tar stream; 0 when not built here
	// bins are the Go executables the writer found; scanned says the
	// layer was written here, so that bins is the whole list.
	bins    []tarx.Binary
	scanned bool
}

// New merges sources into one layer, in order. Layer options apply to the
// whole layer; source options go to each Source. New validates its
// arguments and does no I/O: the layer is built on the first call to
// Digest, DiffID, Size, Compressed or Uncompressed, under ctx (cancelling
// ctx aborts the build; the error is kept, as is any other build error,
// and returned by every later call).
//
// The built blob is spooled to an unlinked temp file (see WithTempDir),
// which is gone with the process or with the layer, or kept in the cache
// given with WithCache.
func New(ctx context.Context, sources []Source, opts ...LayerOption) (v1.Layer, error) {
	o, err := applyLayerOptions(opts)
	if err != nil {
		return nil, err
	}
	return newLayer(ctx, sources, o)
}

func newLayer(ctx context.Context, srcs []Source, o *layerOptions) (*layer, error) {
	if ctx == nil {
		return nil, fmt.Errorf("%w: nil context", ErrInvalidOption)
	}
	if len(srcs) == 0 {
		return nil, fmt.Errorf("%w: no sources", ErrInvalidOption)
	}
	if o.share.limit > 0 && o.cacheDir == "" {
		return nil, fmt.Errorf("%w: WithCacheLimit needs WithCache", ErrInvalidOption)
	}
	parts := make([]string, len(srcs))
	for i, s := range srcs {
		switch s := s.(type) {
		case nil:
			return nil, fmt.Errorf("%w: source %d is nil", ErrInvalidOption, i)
		case invalid:
			return nil, s.err
		}
		parts[i] = s.describe()
	}
	l := &layer{
		ctx:       ctx,
		srcs:      srcs,
		tempDir:   o.tempDir,
		cacheDir:  o.cacheDir,
		share:     o.share,
		conc:      o.concurrency,
		createdBy: "stevedore: " + strings.Join(parts, "; "),
	}
	if err := l.setCompression(o); err != nil {
		return nil, err
	}
	if l.conc == 0 {
		l.conc = runtime.GOMAXPROCS(0)
	}
	return l, nil
}

// setCompression settles compression, level, media type and prioritized
// files.
func (l *layer) setCompression(o *layerOptions) error {
	l.comp = o.compression
	if mt := o.mediaType; mt != "" {
		c, _ := mediaTypeCompression(mt)
		switch {
		case l.comp == 0:
			l.comp = c
		case l.comp.blobFormat() != c.blobFormat():
			return fmt.Errorf("%w: media type %s does not match compression %v", ErrInvalidOption, mt, l.comp)
		}
		l.mediaType = mt
	}
	switch l.comp {
	case 0, Gzip, EStargz:
		l.comp, l.level = cmp.Or(l.comp, Gzip), 1
		if o.levelSet && o.level > 9 {
			return fmt.Errorf("%w: WithLevel: gzip level %d out of range 1..9", ErrInvalidOption, o.level)
		}
	case Zstd, ZstdChunked:
		l.level = 3
	case Uncompressed:
		if o.levelSet {
			return fmt.Errorf("%w: WithLevel does not apply to uncompressed layers", ErrInvalidOption)
		}
	}
	if o.levelSet {
		l.level = o.level
	}
	if l.mediaType == "" {
		l.mediaType = defaultMediaType[l.comp]
	}
	if len(o.prioritized) > 0 && !l.lazy() {
		return fmt.Errorf("%w: WithPrioritizedFiles applies to EStargz and ZstdChunked layers, not %v", ErrInvalidOption, l.comp)
	}
	l.prioritized = o.prioritized
	return nil
}

var defaultMediaType = map[Compression]types.MediaType{
	Gzip: types.OCILayer, Zstd: types.OCILayerZStd, Uncompressed: types.OCIUncompressedLayer,
	EStargz: types.OCILayer, ZstdChunked: types.OCILayerZStd,
}

// lazy reports whether the layer is of a lazily pullable format.
func (l *layer) lazy() bool { return lazyFormat[l.comp] != 0 }

// Place implements Placeable.
func (l *layer) Place(p Placement) v1.Layer {
	if p.Base == nil && !p.SkipUnchanged && l.placement == (Placement{}) {
		return l
	}
	return &layer{
		ctx: l.ctx, srcs: l.srcs, comp: l.comp, level: l.level, conc: l.conc,
		mediaType: l.mediaType, tempDir: l.tempDir, cacheDir: l.cacheDir,
		share: l.share, createdBy: l.createdBy, placement: p, prioritized: l.prioritized,
	}
}

// CacheHit implements Cached.
func (l *layer) CacheHit() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.done && l.err == nil && l.hit
}

// CreatedBy describes the layer's sources for the image history, e.g.
// "stevedore: dir -> /app".
func (l *layer) CreatedBy() string { return l.createdBy }

// MediaType implements v1.Layer. It does no I/O.
func (l *layer) MediaType() (types.MediaType, error) { return l.mediaType, nil }

// Digest implements v1.Layer.
func (l *layer) Digest() (v1.Hash, error) {
	err := l.Compute(context.Background())
	return l.res.digest, err
}

// DiffID implements v1.Layer.
func (l *layer) DiffID() (v1.Hash, error) {
	err := l.Compute(context.Background())
	return l.res.diffID, err
}

// Size implements v1.Layer.
func (l *layer) Size() (int64, error) {
	err := l.Compute(context.Background())
	return l.res.size, err
}

// Annotations implements Annotated: nil without building the layer for
// Gzip, Zstd and Uncompressed layers; for EStargz and ZstdChunked, the
// annotations of the built layer (it is built as Digest builds it).
func (l *layer) Annotations() (map[string]string, error) {
	if !l.lazy() {
		return nil, nil
	}
	if err := l.Compute(context.Background()); err != nil {
		return nil, err
	}
	return maps.Clone(l.res.annotations), nil
}

// Descriptor returns the layer's descriptor: media type, digest, size and
// annotations (see Annotated). go-containerregistry's partial.Descriptor
// uses it, so the annotations also reach the manifests of images made
// with its mutate package.
func (l *layer) Descriptor() (*v1.Descriptor, error) {
	if err := l.Compute(context.Background()); err != nil {
		return nil, err
	}
	return &v1.Descriptor{MediaType: l.mediaType, Size: l.res.size, Digest: l.res.digest, Annotations: maps.Clone(l.res.annotations)}, nil
}

// Compressed implements v1.Layer: it serves the spooled or cached blob.
// Closing the reader releases nothing but the reader: the number of open
// descriptors does not grow with calls.
func (l *layer) Compressed() (io.ReadCloser, error) {
	if err := l.Compute(context.Background()); err != nil {
		return nil, err
	}
	rc, err := l.blob.open(l)
	if err != nil {
		return nil, fmt.Errorf("opening blob of %s: %w", l.createdBy, err)
	}
	return rc, nil
}

// Uncompressed implements v1.Layer: it decompresses the blob.
func (l *layer) Uncompressed() (io.ReadCloser, error) {
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	return l.decompress(rc)
}

// decompress returns the content of rc, a blob of the layer (an eStargz
// blob is gzip, a zstd:chunked one zstd); closing it closes rc.
func (l *layer) decompress(rc io.ReadCloser) (io.ReadCloser, error) {
	dr, err := compress.NewReadCloser(rc, l.comp.blobFormat())
	if err != nil {
		rc.Close()
		return nil, fmt.Errorf("decompressing blob of %s: %w", l.createdBy, err)
	}
	return dr, nil
}

// Files implements Lister: the entries of the built layer. On a cache
// hit they come from the cache, or from reading the blob once when the
// cache has no record of them.
func (l *layer) Files(ctx context.Context) ([]Node, error) {
	if err := l.Compute(ctx); err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.files == nil {
		fs, err := l.loadFiles(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing layer (%s): %w", l.createdBy, err)
		}
		l.files = fs
	}
	return l.files, nil
}

// Compute builds the layer now, under ctx as well as the context the layer
// was made with, and keeps the outcome for every later call, as the first
// Digest, DiffID, Size, Compressed or Uncompressed would. One exception: a
// build stopped because ctx (and not the layer's own context) was
// cancelled is not kept, so a later call builds again. image.Build calls
// it with its own ctx, so cancelling a build also stops layers made with
// the From* functions, which carry no context of their own.
func (l *layer) Compute(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done {
		return l.err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("building layer (%s): %w", l.createdBy, err)
	}
	bctx, cancel := context.WithCancelCause(l.ctx)
	defer cancel(nil)
	stop := context.AfterFunc(ctx, func() { cancel(context.Cause(ctx)) })
	defer stop()
	err := l.build(bctx)
	if err != nil && ctx.Err() != nil && l.ctx.Err() == nil {
		return err // the caller's cancellation: not kept
	}
	l.done, l.err = true, err
	return err
}

// compressReader decompresses a blob of compression c.
func compressReader(r io.Reader, c Compression) (io.ReadCloser, error) {
	return compress.NewReader(r, c.blobFormat())
}

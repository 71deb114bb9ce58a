package layer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/stevedore-dev/stevedore/internal/compress"
	"github.com/stevedore-dev/stevedore/internal/ctxio"
	"github.com/stevedore-dev/stevedore/internal/tarx"
)

// layer is the v1.Layer built by New. Its bytes are produced on first use,
// once, into a spool file or a cache entry.
type layer struct {
	ctx       context.Context
	srcs      []*source
	comp      Compression
	level     int
	conc      int
	mediaType types.MediaType
	tempDir   string
	cacheDir  string
	createdBy string

	// mu serialises builds; done and err keep the outcome of the first
	// build that was not stopped by a caller's own context (see Compute).
	mu     sync.Mutex
	done   bool
	err    error
	digest v1.Hash
	diffID v1.Hash
	size   int64
	blob   *blob
	hit    bool // served from the cache without building (see CacheHit)
}

var _ v1.Layer = (*layer)(nil)

// blob is where a built layer's compressed bytes live. It is separate from
// layer so that a cleanup attached to the layer can remove the spool file
// without keeping the layer reachable.
type blob struct {
	path     string // spool file or cache entry file
	spool    bool   // removed when the layer is garbage collected
	entry    cacheEntry
	verified bool // built by this process: no need to verify
	// verify is run once before the first Compressed/Uncompressed of a
	// cache hit; a failure rebuilds the layer.
	verifyOnce sync.Once
	verifyErr  error
}

// New merges sources into one layer, in order. Layer options (compression,
// level, media type, cache, temp dir, concurrency) apply here; source
// options go to each Source. New validates its arguments and does no I/O:
// the layer is built on the first call to Digest, DiffID, Size, Compressed
// or Uncompressed, under ctx (cancelling ctx aborts the build; the error
// is kept, as is any other build error, and returned by every later call).
//
// The built blob is spooled to a temp file (see WithTempDir) that is
// removed when the layer becomes unreachable (runtime.AddCleanup), or kept
// in the cache given with WithCache.
func New(ctx context.Context, sources []Source, opts ...Option) (v1.Layer, error) {
	o, err := applyOptions(opts)
	if err != nil {
		return nil, err
	}
	if err := o.checkScope("layer.New", layerOptionNames); err != nil {
		return nil, err
	}
	var srcs []*source
	for i, s := range sources {
		if s.s == nil {
			return nil, fmt.Errorf("%w: source %d is the zero Source", ErrOption, i)
		}
		if s.s.err != nil {
			return nil, s.s.err
		}
		srcs = append(srcs, s.s)
	}
	return newLayer(ctx, srcs, o)
}

func newLayer(ctx context.Context, srcs []*source, o *options) (*layer, error) {
	if ctx == nil {
		return nil, fmt.Errorf("%w: nil context", ErrOption)
	}
	if len(srcs) == 0 {
		return nil, fmt.Errorf("%w: no sources", ErrOption)
	}
	l := &layer{
		ctx:      ctx,
		srcs:     srcs,
		comp:     o.compression,
		tempDir:  o.tempDir,
		cacheDir: o.cacheDir,
		conc:     o.concurrency,
	}
	if mt := o.mediaType; mt != "" {
		c := mediaTypeCompression[mt]
		if l.comp != 0 && l.comp != c {
			return nil, fmt.Errorf("%w: media type %s does not match compression %v", ErrOption, mt, l.comp)
		}
		l.comp, l.mediaType = c, mt
	}
	switch l.comp {
	case 0, Gzip:
		l.comp, l.level = Gzip, 1
		if o.levelSet && o.level > 9 {
			return nil, fmt.Errorf("%w: WithLevel: gzip level %d out of range 1..9", ErrOption, o.level)
		}
	case Zstd:
		l.level = 3
	case Uncompressed:
		if o.levelSet {
			return nil, fmt.Errorf("%w: WithLevel does not apply to uncompressed layers", ErrOption)
		}
	}
	if o.levelSet {
		l.level = o.level
	}
	if l.mediaType == "" {
		l.mediaType = map[Compression]types.MediaType{
			Gzip: types.OCILayer, Zstd: types.OCILayerZStd, Uncompressed: types.OCIUncompressedLayer,
		}[l.comp]
	}
	if l.conc == 0 {
		l.conc = runtime.GOMAXPROCS(0)
	}
	parts := make([]string, len(srcs))
	for i, s := range srcs {
		parts[i] = s.describe()
	}
	l.createdBy = "stevedore: " + strings.Join(parts, "; ")
	return l, nil
}

// CreatedBy describes the layer's sources for the image history, e.g.
// "stevedore: dir ./dist -> /app".
func (l *layer) CreatedBy() string { return l.createdBy }

// MediaType implements v1.Layer. It does no I/O.
func (l *layer) MediaType() (types.MediaType, error) { return l.mediaType, nil }

// Digest implements v1.Layer.
func (l *layer) Digest() (v1.Hash, error) {
	if err := l.build(); err != nil {
		return v1.Hash{}, err
	}
	return l.digest, nil
}

// DiffID implements v1.Layer.
func (l *layer) DiffID() (v1.Hash, error) {
	if err := l.build(); err != nil {
		return v1.Hash{}, err
	}
	return l.diffID, nil
}

// Size implements v1.Layer.
func (l *layer) Size() (int64, error) {
	if err := l.build(); err != nil {
		return 0, err
	}
	return l.size, nil
}

// Compressed implements v1.Layer: it serves the spooled or cached blob.
func (l *layer) Compressed() (io.ReadCloser, error) {
	if err := l.build(); err != nil {
		return nil, err
	}
	if err := l.verified(); err != nil {
		return nil, err
	}
	f, err := os.Open(l.blob.path)
	if err != nil {
		return nil, fmt.Errorf("opening blob of %s: %w", l.createdBy, err)
	}
	return f, nil
}

// Uncompressed implements v1.Layer: it decompresses the blob.
func (l *layer) Uncompressed() (io.ReadCloser, error) {
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	if l.comp == Uncompressed {
		return rc, nil
	}
	format := compress.Gzip
	if l.comp == Zstd {
		format = compress.Zstd
	}
	dr, err := compress.NewReader(rc, format)
	if err != nil {
		rc.Close()
		return nil, fmt.Errorf("decompressing blob of %s: %w", l.createdBy, err)
	}
	return dr, nil
}

func (l *layer) build() error { return l.Compute(context.Background()) }

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
	err := l.doBuild(bctx)
	if err != nil && ctx.Err() != nil && l.ctx.Err() == nil {
		return err // the caller's cancellation: not kept
	}
	l.done, l.err = true, err
	return err
}

func (l *layer) doBuild(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("building layer (%s): %w", l.createdBy, err)
	}
	preps, err := l.prepare()
	if err != nil {
		return err
	}
	if l.cacheDir != "" {
		return l.buildCached(ctx, preps)
	}
	return l.buildSpool(ctx, preps)
}

// prepare resolves every source's rules.
func (l *layer) prepare() ([]*prepared, error) {
	preps := make([]*prepared, len(l.srcs))
	for i, s := range l.srcs {
		p, err := s.prepare()
		if err != nil {
			return nil, fmt.Errorf("building layer (%s): %w", l.createdBy, err)
		}
		preps[i] = p
	}
	return preps, nil
}

// buildSpool writes the blob to a temp file.
func (l *layer) buildSpool(ctx context.Context, preps []*prepared) error {
	f, err := os.CreateTemp(l.tempDir, "stevedore-layer-*.blob")
	if err != nil {
		return fmt.Errorf("creating spool file: %w", err)
	}
	res, err := l.produce(ctx, f, preps)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("writing spool file %s: %w", f.Name(), cerr)
	}
	if err != nil {
		os.Remove(f.Name())
		return err
	}
	l.setResult(res)
	l.blob = &blob{path: f.Name(), spool: true}
	runtime.AddCleanup(l, func(p string) { os.Remove(p) }, f.Name())
	return nil
}

func (l *layer) setResult(r result) {
	l.digest, l.diffID, l.size = r.digest, r.diffID, r.size
}

// testHookProduce, when set by a test, is called at each build.
var testHookProduce func()

// result is what one pass over the sources yields.
type result struct {
	digest, diffID v1.Hash
	size           int64
}

// produce writes the compressed tar of all sources to w in one pass,
// hashing the tar (diffID) and the compressed bytes (digest) as they flow.
func (l *layer) produce(ctx context.Context, w io.Writer, preps []*prepared) (result, error) {
	if testHookProduce != nil {
		testHookProduce()
	}
	digestH := sha256.New()
	cw := &countWriter{w: io.MultiWriter(w, digestH)}
	zw, err := compress.NewWriter(cw, compress.WriterConfig{
		Format: map[Compression]compress.Format{Gzip: compress.Gzip, Zstd: compress.Zstd, Uncompressed: compress.None}[l.comp],
		Level:  l.level, Concurrency: l.conc,
	})
	if err != nil {
		return result{}, err
	}
	diffH := sha256.New()
	tw := tarx.NewWriter(ctxio.Writer(ctx, io.MultiWriter(zw, diffH)))
	for i, s := range l.srcs {
		if err = s.write(ctx, tw, preps[i]); err != nil {
			break
		}
	}
	if err == nil {
		err = tw.Close()
	}
	if cerr := zw.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("compressing layer: %w", cerr)
	}
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
			err = fmt.Errorf("%w (%w)", ctxErr, err)
		}
		return result{}, fmt.Errorf("building layer (%s): %w", l.createdBy, err)
	}
	return result{
		digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(digestH.Sum(nil))},
		diffID: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(diffH.Sum(nil))},
		size:   cw.n,
	}, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

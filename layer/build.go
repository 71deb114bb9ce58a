package layer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/stevedore-dev/stevedore/internal/compress"
	"github.com/stevedore-dev/stevedore/internal/ctxio"
	"github.com/stevedore-dev/stevedore/internal/tarx"
)

// testHookProduce, when set by a test, is called at each writing pass.
var testHookProduce func()

// sink receives a layer's blob; Reset throws away what it holds, for a
// second pass.
type sink interface {
	io.Writer
	Reset() error
}

// changedRetries is how many times a build that found a source changed
// during it (ErrChanged) starts again, reading the sources afresh, before
// it returns that error: an edit-and-rebuild loop's save during a build
// costs a second build, not a failure.
var changedRetries = 2 // a variable for tests

// build produces the layer once: from the cache when it has the layer,
// else by writing every source into a spool file or a cache entry. A
// source that changed during the build makes it start again (see
// changedRetries); a failed attempt leaves nothing behind (its spool or
// cache entry is dropped).
func (l *layer) build(ctx context.Context) error {
	for attempt := 0; ; attempt++ {
		err := l.buildOnce(ctx)
		if err == nil || !errors.Is(err, ErrChanged) || attempt == changedRetries || ctx.Err() != nil {
			return err
		}
	}
}

// buildOnce is one attempt of build, with the sources' rules prepared
// afresh.
func (l *layer) buildOnce(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("building layer (%s): %w", l.createdBy, err)
	}
	preps := make([]*prepared, len(l.srcs))
	for i, s := range l.srcs {
		p, err := s.prepare()
		if err != nil {
			return fmt.Errorf("building layer (%s): %w", l.createdBy, err)
		}
		preps[i] = p
	}
	l.preps = preps
	if l.cacheDir != "" || l.share.remote != nil {
		return l.buildCached(ctx, preps)
	}
	return l.buildSpool(ctx, preps)
}

// buildSpool writes the blob to a spool file.
func (l *layer) buildSpool(ctx context.Context, preps []*prepared) error {
	sp, err := newSpool(l.tempDir)
	if err != nil {
		return fmt.Errorf("building layer (%s): %w", l.createdBy, err)
	}
	res, files, err := l.produce(ctx, sp, preps)
	if err != nil {
		sp.discard()
		return err
	}
	l.res, l.files, l.blob = res, l.written(files), sp.blob(res.size)
	return nil
}

// written is what the layer holds, from the writer's record of the tar
// it wrote; nil for the lazy formats, whose blob holds another tar (see
// lazyEncoder): Files reads their list from the blob.
func (l *layer) written(files []tarx.Node) []Node {
	if l.lazy() {
		return nil
	}
	return nodesOf(files)
}

// produce writes the tar of all sources to s in one pass, hashing the tar
// (diffID) and the compressed bytes (digest) as they flow. When the
// entries need a plan (a name placed twice, a whiteout after its
// siblings: see tarx.Writer), the sources are read again: once more to
// write with the plan, and once before that when a late whiteout made the
// first pass's plan stale.
func (l *layer) produce(ctx context.Context, s sink, preps []*prepared) (result, []tarx.Node, error) {
	opts := tarx.Options{SkipUnchanged: l.placement.SkipUnchanged, TempDir: l.tempDir}
	if len(l.prioritized) > 0 {
		// The library moves a prioritized file first only with every
		// parent directory (see WithPrioritizedFiles).
		opts.FullPath = make(map[string]bool, len(l.prioritized))
		for _, p := range l.prioritized {
			opts.FullPath[p] = true
		}
	}
	if b := l.placement.Base; b != nil {
		if err := b.Load(ctx); err != nil {
			return result{}, nil, fmt.Errorf("building layer (%s): loading the base: %w", l.createdBy, err)
		}
		opts.Below = belowOf(b)
	}
	res, w, err := l.pass(ctx, s, preps, opts)
	if err != nil {
		return result{}, nil, err
	}
	if !w.NeedsPlan() {
		return res, w.Files(), nil
	}
	plan := w.Plan()
	if w.Stale() {
		c := opts
		c.Plan, c.Collect = plan, true
		if _, w, err = l.pass(ctx, nil, preps, c); err != nil {
			return result{}, nil, err
		}
		plan = w.Plan()
	}
	if err := s.Reset(); err != nil {
		return result{}, nil, fmt.Errorf("building layer (%s): %w", l.createdBy, err)
	}
	opts.Plan = plan
	if res, w, err = l.pass(ctx, s, preps, opts); err != nil {
		return result{}, nil, err
	}
	if w.NeedsPlan() {
		return result{}, nil, fmt.Errorf("building layer (%s): entries changed between passes (%s): %w", l.createdBy, w.Why(), ErrChanged)
	}
	return res, w.Files(), nil
}

// pass writes every source through one tarx.Writer; out nil means a
// collecting pass that writes nothing. The writer's tar goes to the
// layer's encoder (see newEncoder); the blob the encoder writes is hashed
// (digest) and counted on its way to out. A pass whose tar needs a plan
// throws its blob away before it is made.
func (l *layer) pass(ctx context.Context, out io.Writer, preps []*prepared, opts tarx.Options) (result, *tarx.Writer, error) {
	if testHookProduce != nil && out != nil {
		testHookProduce()
	}
	var (
		digestH hash.Hash
		cw      *ctxio.CountWriter
		enc     encoder = discardEncoder{}
		err     error
	)
	if out != nil {
		digestH = sha256.New()
		cw = &ctxio.CountWriter{W: io.MultiWriter(out, digestH)}
		if enc, err = l.newEncoder(ctx, cw); err != nil {
			return result{}, nil, err
		}
	}
	w := tarx.NewWriter(ctxio.Writer(ctx, enc), opts)
	err = l.writeSources(ctx, w, preps)
	if err == nil {
		err = w.Close()
	}
	res, cerr := enc.finish(err == nil && !w.NeedsPlan())
	if err == nil && cerr != nil {
		err = fmt.Errorf("compressing layer: %w", cerr)
	}
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
			err = fmt.Errorf("%w (%w)", ctxErr, err)
		}
		return result{}, w, fmt.Errorf("building layer (%s): %w", l.createdBy, err)
	}
	if out == nil || w.NeedsPlan() {
		return result{}, w, nil
	}
	res.digest, res.size, res.bins, res.scanned = sum(digestH), cw.N, w.Binaries(), true
	return res, w, nil
}

// encoder turns the tar a pass writes into the layer's blob.
type encoder interface {
	io.Writer
	// finish completes the blob and returns its diffID (and annotations)
	// when keep is true; when it is false (the pass failed, or its output
	// is thrown away), it drops what was written. Either way it releases
	// everything the encoder holds: goroutines, temp files.
	finish(keep bool) (result, error)
}

// newEncoder returns the encoder of the layer's compression, writing the
// blob to out.
func (l *layer) newEncoder(ctx context.Context, out io.Writer) (encoder, error) {
	if f, ok := lazyFormat[l.comp]; ok {
		return l.newLazyEncoder(ctx, out, f), nil
	}
	e := &plainEncoder{diffH: sha256.New()}
	e.tar = &ctxio.CountWriter{W: e.diffH}
	zw, err := compress.NewWriter(out, compress.WriterConfig{
		Format: compressionFormat[l.comp], Level: l.level, Concurrency: l.conc,
		Tee: e.tar, // the diffID, hashed beside the compressor
	})
	if err != nil {
		return nil, err
	}
	e.zw, e.Writer = zw, zw
	return e, nil
}

// plainEncoder compresses the tar (gzip, zstd or none), which is the
// layer's uncompressed content: its sha256 is the diffID.
type plainEncoder struct {
	io.Writer // zw, which writes tar too
	zw        io.WriteCloser
	diffH     hash.Hash
	tar       *ctxio.CountWriter // counts the tar into diffH
}

func (e *plainEncoder) finish(bool) (result, error) {
	if err := e.zw.Close(); err != nil {
		return result{}, err
	}
	return result{diffID: sum(e.diffH), tarSize: e.tar.N}, nil
}

// discardEncoder is the encoder of a collecting pass.
type discardEncoder struct{}

func (discardEncoder) Write(p []byte) (int, error) { return len(p), nil }
func (discardEncoder) finish(bool) (result, error) { return result{}, nil }

// writeSources registers every source's whiteouts, then writes every
// source's entries.
func (l *layer) writeSources(ctx context.Context, w *tarx.Writer, preps []*prepared) error {
	for i, s := range l.srcs {
		if err := s.whiteouts(w, preps[i]); err != nil {
			return err
		}
	}
	for i, s := range l.srcs {
		if err := s.write(ctx, w, preps[i]); err != nil {
			return err
		}
	}
	return nil
}

func sum(h hash.Hash) v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}
}

// belowOf adapts a Base to the tar writer's lookups.
func belowOf(b Base) tarx.Lookup {
	return func(name string) (tarx.Node, bool) {
		n, ok := b.Lookup(name)
		if !ok {
			return tarx.Node{}, false
		}
		t := tarx.Node{Name: name, Type: n.Type, Mode: n.Mode, UID: n.UID, GID: n.GID, Linkname: n.Linkname, Size: n.Size}
		if n.Digest.Hex != "" {
			t.Digest = n.Digest.String()
		}
		return t, true
	}
}

// nodesOf converts the writer's record of a layer to Nodes.
func nodesOf(ns []tarx.Node) []Node {
	out := make([]Node, len(ns))
	for i, n := range ns {
		out[i] = Node{Name: n.Name, Type: n.Type, Mode: n.Mode, UID: n.UID, GID: n.GID, Linkname: n.Linkname, Size: n.Size}
	}
	return out
}

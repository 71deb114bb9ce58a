package layer

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/stevedore-dev/stevedore/internal/fstree"
	"github.com/stevedore-dev/stevedore/internal/lazypull"
)

// errDiscarded stops the lazy encoder of a pass whose output is thrown
// away; it never reaches a caller.
var errDiscarded = errors.New("layer: pass discarded")

// lazyEncoder makes an eStargz or zstd:chunked blob with lazypull.Write,
// which runs on its own goroutine, reading the tar the pass writes
// through a pipe: it spools the tar (the formats need random access to
// it), then, once the tar is complete, writes the blob to out.
//
// The diffID is lazypull's, the sha256 of the blob decompressed, not that
// of the tar the pass wrote: the format rewrites that tar (a landmark file
// first, prioritized files moved ahead, for eStargz its table of contents
// as the last entry), and the diffID must be the digest of what a client
// gets when it decompresses the blob.
type lazyEncoder struct {
	pw   *io.PipeWriter
	done chan lazyOutcome
}

type lazyOutcome struct {
	res lazypull.Result
	err error
}

func (l *layer) newLazyEncoder(ctx context.Context, out io.Writer, f lazypull.Format) *lazyEncoder {
	opts := []lazypull.Option{lazypull.WithLevel(l.level), lazypull.WithPrioritizedFiles(l.prioritized...)}
	if l.tempDir != "" {
		opts = append(opts, lazypull.WithTempDir(l.tempDir))
	}
	pr, pw := io.Pipe()
	e := &lazyEncoder{pw: pw, done: make(chan lazyOutcome, 1)}
	go func() {
		res, err := lazypull.Write(ctx, out, pr, f, opts...)
		// A Write that stopped reading early must not leave the pass
		// blocked on the pipe.
		pr.CloseWithError(err)
		e.done <- lazyOutcome{res, err}
	}()
	return e
}

func (e *lazyEncoder) Write(p []byte) (int, error) { return e.pw.Write(p) }

// finish ends the tar and waits for Write. Without keep, Write sees its
// input fail before it builds anything, and removes its spool.
func (e *lazyEncoder) finish(keep bool) (result, error) {
	if !keep {
		e.pw.CloseWithError(errDiscarded)
		<-e.done
		return result{}, nil
	}
	e.pw.Close()
	o := <-e.done
	if o.err != nil {
		return result{}, o.err
	}
	return result{diffID: o.res.DiffID, annotations: o.res.Annotations, tarSize: o.res.UncompressedSize}, nil
}

// lazyFiles lists the entries of a built eStargz or zstd:chunked layer
// from the table of contents at the end of its blob, without
// decompressing it: the tar the blob decompresses to, the format's
// landmark (and eStargz's TOC file) included.
func (l *layer) lazyFiles() ([]Node, error) {
	rc, err := l.blob.open(l)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	ra, ok := rc.(io.ReaderAt)
	if !ok {
		return nil, fmt.Errorf("blob reader %T has no ReadAt", rc)
	}
	ns, err := fstree.IndexTOC(ra, l.res.size, l.res.annotations)
	if err != nil {
		return nil, err
	}
	return nodesOf(ns), nil
}

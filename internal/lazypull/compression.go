package lazypull

import (
	"hash"
	"io"
	"sync"

	"github.com/containerd/stargz-snapshotter/estargz"
	"github.com/containerd/stargz-snapshotter/estargz/zstdchunked"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	digest "github.com/opencontainers/go-digest"

	"github.com/stevedore-dev/stevedore/internal/compress"
)

// compression returns the estargz.Compression that builds f at level,
// and the map in which zstd:chunked records its annotations when the TOC
// is written (nil for eStargz).
func compression(f Format, level int) (estargz.Compression, map[string]string) {
	if f == ZstdChunked {
		meta := map[string]string{}
		zl := zstd.EncoderLevelFromZstd(level)
		return &zstdCompression{
			Decompressor: new(zstdchunked.Decompressor),
			Compressor:   &zstdchunked.Compressor{CompressionLevel: zl, Metadata: meta},
			frames: &freeList[*zstd.Encoder]{create: func(w io.Writer) (*zstd.Encoder, error) {
				return zstd.NewWriter(w, zstd.WithEncoderLevel(zl), zstd.WithLowerEncoderMem(true),
					zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(compress.ZstdWindowSize))
			}},
		}, meta
	}
	return &gzipCompression{level: level, frames: &freeList[*gzip.Writer]{create: func(w io.Writer) (*gzip.Writer, error) {
		return gzip.NewWriterLevel(w, level)
	}}}, nil
}

// zstdCompression is zstd:chunked as containerd's converter builds it
// (zstdchunked's TOC, footer and annotations), with two changes that
// bound memory: frame encoders are kept on a free list, and they and the
// diffID decoder run on one goroutine each with zstd's low-memory
// options. The encoders' window is the layer package's zstd window
// (4 MiB, not 8): a frame holds at most one 4 MiB chunk of a file, so the
// output is as small, and the encoders need half the memory. The window
// is written in each frame header: it is part of the output, like the
// level.
type zstdCompression struct {
	*zstdchunked.Decompressor
	*zstdchunked.Compressor
	frames *freeList[*zstd.Encoder]
}

func (c *zstdCompression) Writer(w io.Writer) (estargz.WriteFlushCloser, error) {
	return c.frames.writer(w)
}

func (c *zstdCompression) Reader(r io.Reader) (io.ReadCloser, error) {
	d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
	if err != nil {
		return nil, err
	}
	return d.IOReadCloser(), nil
}

// gzipCompression is estargz's gzip compression with klauspost/compress's
// gzip in place of compress/gzip for the members and for the decompression
// that computes the diffID: the same format, faster. The TOC and footer
// are written by estargz's own GzipCompressor. Member writers are kept on
// a free list.
type gzipCompression struct {
	estargz.GzipDecompressor
	level  int
	frames *freeList[*gzip.Writer]
}

func (c *gzipCompression) Writer(w io.Writer) (estargz.WriteFlushCloser, error) {
	return c.frames.writer(w)
}

func (c *gzipCompression) WriteTOCAndFooter(w io.Writer, off int64, toc *estargz.JTOC, diffHash hash.Hash) (digest.Digest, error) {
	return estargz.NewGzipCompressorWithLevel(c.level).WriteTOCAndFooter(w, off, toc, diffHash)
}

func (c *gzipCompression) Reader(r io.Reader) (io.ReadCloser, error) {
	return gzip.NewReader(r)
}

// frameWriter is a compressor of one gzip member or zstd frame that can
// be reset onto a new output.
type frameWriter interface {
	estargz.WriteFlushCloser
	Reset(io.Writer)
}

// freeList keeps the frame writers closed cleanly for the next frame.
// estargz opens one frame per file (or 4 MiB chunk) and each build part
// holds one at a time, so the list stays as short as the number of parts;
// a sync.Pool would be emptied by every GC, and a layer of 15,000 files
// would allocate thousands of compressors.
type freeList[W frameWriter] struct {
	create func(io.Writer) (W, error)
	mu     sync.Mutex
	free   []W
}

func (l *freeList[W]) writer(w io.Writer) (estargz.WriteFlushCloser, error) {
	l.mu.Lock()
	if n := len(l.free); n > 0 {
		fw := l.free[n-1]
		l.free = l.free[:n-1]
		l.mu.Unlock()
		fw.Reset(w)
		return &listed[W]{fw: fw, l: l}, nil
	}
	l.mu.Unlock()
	fw, err := l.create(w)
	if err != nil {
		return nil, err
	}
	return &listed[W]{fw: fw, l: l}, nil
}

// listed is a frame writer that goes back to its list when closed.
type listed[W frameWriter] struct {
	fw     W
	l      *freeList[W]
	closed bool
}

func (x *listed[W]) Write(p []byte) (int, error) { return x.fw.Write(p) }
func (x *listed[W]) Flush() error                { return x.fw.Flush() }

func (x *listed[W]) Close() error {
	if x.closed {
		return nil
	}
	x.closed = true
	if err := x.fw.Close(); err != nil {
		return err
	}
	x.l.mu.Lock()
	x.l.free = append(x.l.free, x.fw)
	x.l.mu.Unlock()
	return nil
}

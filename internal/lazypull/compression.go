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
			level:        zl,
		}, meta
	}
	return &gzipCompression{level: level}, nil
}

// zstdCompression is zstd:chunked as containerd's converter builds it
// (zstdchunked's TOC, footer and annotations), with two changes that
// leave the bytes alone and bound memory: finished frame encoders go to a
// free list (at most one per build part) rather than a sync.Pool, which
// every GC empties, so a layer of 15,000 files does not allocate
// thousands of encoders; and they and the diffID decoder run on one
// goroutine each with zstd's low-memory options. The encoders' window is
// the layer package's zstd window (4 MiB, not 8): a frame holds at most
// one 4 MiB chunk of a file, so the output is as small, and the encoders
// need half the memory. The window is written in each frame header: it
// is part of the output, like the level.
type zstdCompression struct {
	*zstdchunked.Decompressor
	*zstdchunked.Compressor
	level zstd.EncoderLevel

	mu   sync.Mutex
	free []*zstd.Encoder
}

func (c *zstdCompression) Writer(w io.Writer) (estargz.WriteFlushCloser, error) {
	c.mu.Lock()
	if n := len(c.free); n > 0 {
		e := c.free[n-1]
		c.free = c.free[:n-1]
		c.mu.Unlock()
		e.Reset(w)
		return &freeEncoder{e, c}, nil
	}
	c.mu.Unlock()
	e, err := zstd.NewWriter(w, zstd.WithEncoderLevel(c.level), zstd.WithLowerEncoderMem(true), zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(compress.ZstdWindowSize))
	if err != nil {
		return nil, err
	}
	return &freeEncoder{e, c}, nil
}

func (c *zstdCompression) Reader(r io.Reader) (io.ReadCloser, error) {
	d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
	if err != nil {
		return nil, err
	}
	return d.IOReadCloser(), nil
}

// freeEncoder returns its encoder to the free list when closed cleanly.
type freeEncoder struct {
	*zstd.Encoder
	c *zstdCompression
}

func (f *freeEncoder) Close() error {
	e := f.Encoder
	if e == nil {
		return nil
	}
	f.Encoder = nil
	if err := e.Close(); err != nil {
		return err
	}
	f.c.mu.Lock()
	f.c.free = append(f.c.free, e)
	f.c.mu.Unlock()
	return nil
}

// gzipCompression is estargz's gzip compression with klauspost/compress's
// gzip in place of compress/gzip for the members and for the decompression
// that computes the diffID: the same format, faster. The TOC and footer
// are written by estargz's own GzipCompressor. Finished member writers go
// to a free list, as zstdCompression's encoders do.
type gzipCompression struct {
	estargz.GzipDecompressor
	level int

	mu   sync.Mutex
	free []*gzip.Writer
}

func (c *gzipCompression) Writer(w io.Writer) (estargz.WriteFlushCloser, error) {
	c.mu.Lock()
	if n := len(c.free); n > 0 {
		zw := c.free[n-1]
		c.free = c.free[:n-1]
		c.mu.Unlock()
		zw.Reset(w)
		return &freeGzip{zw, c}, nil
	}
	c.mu.Unlock()
	zw, err := gzip.NewWriterLevel(w, c.level)
	if err != nil {
		return nil, err
	}
	return &freeGzip{zw, c}, nil
}

func (c *gzipCompression) WriteTOCAndFooter(w io.Writer, off int64, toc *estargz.JTOC, diffHash hash.Hash) (digest.Digest, error) {
	return estargz.NewGzipCompressorWithLevel(c.level).WriteTOCAndFooter(w, off, toc, diffHash)
}

func (c *gzipCompression) Reader(r io.Reader) (io.ReadCloser, error) {
	return gzip.NewReader(r)
}

// freeGzip returns its writer to the free list when closed cleanly.
type freeGzip struct {
	*gzip.Writer
	c *gzipCompression
}

func (f *freeGzip) Close() error {
	zw := f.Writer
	if zw == nil {
		return nil
	}
	f.Writer = nil
	if err := zw.Close(); err != nil {
		return err
	}
	f.c.mu.Lock()
	f.c.free = append(f.c.free, zw)
	f.c.mu.Unlock()
	return nil
}

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
)

// compression returns the estargz.Compression that builds f at level,
// and the map in which zstd:chunked records its annotations when the TOC
// is written (nil for eStargz).
func compression(f Format, level int) (estargz.Compression, map[string]string) {
	if f == ZstdChunked {
		meta := map[string]string{}
		return &zstdCompression{
			Decompressor: new(zstdchunked.Decompressor),
			Compressor:   &zstdchunked.Compressor{CompressionLevel: zstd.EncoderLevelFromZstd(level), Metadata: meta},
		}, meta
	}
	return &gzipCompression{level: level}, nil
}

// zstdCompression is zstd:chunked as containerd's converter builds it.
type zstdCompression struct {
	*zstdchunked.Decompressor
	*zstdchunked.Compressor
}

// gzipCompression is estargz's gzip compression with klauspost/compress's
// gzip in place of compress/gzip for the members and for the decompression
// that computes the diffID: the same format, about twice as fast at level
// 1. The TOC and footer are written by estargz's own GzipCompressor.
// Compressors are pooled: estargz opens one per member (one per file).
type gzipCompression struct {
	estargz.GzipDecompressor
	level int
	pool  sync.Pool
}

func (c *gzipCompression) Writer(w io.Writer) (estargz.WriteFlushCloser, error) {
	if zw, ok := c.pool.Get().(*gzip.Writer); ok {
		zw.Reset(w)
		return &pooledGzip{zw, &c.pool}, nil
	}
	zw, err := gzip.NewWriterLevel(w, c.level)
	if err != nil {
		return nil, err
	}
	return &pooledGzip{zw, &c.pool}, nil
}

func (c *gzipCompression) WriteTOCAndFooter(w io.Writer, off int64, toc *estargz.JTOC, diffHash hash.Hash) (digest.Digest, error) {
	return estargz.NewGzipCompressorWithLevel(c.level).WriteTOCAndFooter(w, off, toc, diffHash)
}

func (c *gzipCompression) Reader(r io.Reader) (io.ReadCloser, error) {
	return gzip.NewReader(r)
}

// pooledGzip returns its writer to the pool when closed cleanly.
type pooledGzip struct {
	*gzip.Writer
	pool *sync.Pool
}

func (p *pooledGzip) Close() error {
	zw := p.Writer
	if zw == nil {
		return nil
	}
	p.Writer = nil
	if err := zw.Close(); err != nil {
		return err
	}
	p.pool.Put(zw)
	return nil
}

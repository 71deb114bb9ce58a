// Package compress detects the compression of tar inputs from their magic
// bytes and provides the layer package's readers and deterministic
// parallel writers (gzip through klauspost/pgzip with fixed 256 KiB blocks,
// zstd through klauspost/compress/zstd).
package compress

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
)

// Format is a compression format.
type Format int

// Formats.
const (
	None Format = iota
	Gzip
	Zstd
	Bzip2 // read only
	Xz    // read only
)

func (f Format) String() string {
	switch f {
	case None:
		return "uncompressed"
	case Gzip:
		return "gzip"
	case Zstd:
		return "zstd"
	case Bzip2:
		return "bzip2"
	case Xz:
		return "xz"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// ErrUnsupported reports a recognized compression format that is not read.
var ErrUnsupported = errors.New("unsupported compression")

// GzipBlockSize is the size of the independently compressed gzip blocks.
// Output bytes depend on it (and the level), never on the concurrency:
// changing it changes every gzip digest.
const GzipBlockSize = 256 << 10

// ZstdWindowSize is the zstd window, pinned (not left to the library's
// default) because output bytes depend on it. 4 MiB costs about 0.02% in
// size against 8 MiB on a Go toolchain tarball and saves 8 MB of encoder
// memory.
const ZstdWindowSize = 4 << 20

var magics = []struct {
	magic []byte
	name  string
}{
	{[]byte{0x04, 0x22, 0x4d, 0x18}, "lz4"},
	{[]byte{0x1f, 0x9d}, "compress (.Z)"},
	{[]byte{0x1f, 0xa0}, "compress (LZH)"},
	{[]byte{0x5d, 0x00, 0x00}, "lzma"},
	{[]byte("7z\xbc\xaf\x27\x1c"), "7z"},
	{[]byte("PK\x03\x04"), "zip"},
}

// Detect peeks at the first bytes of br and reports their compression. A
// recognized but unsupported format (lz4, zip, ...) is an error wrapping
// ErrUnsupported that names it. Short inputs are reported as None.
func Detect(br *bufio.Reader) (Format, error) {
	head, err := br.Peek(8)
	if err != nil && !errors.Is(err, io.EOF) {
		return None, err
	}
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return Gzip, nil
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return Zstd, nil
	case isBzip2(head):
		return Bzip2, nil
	case bytes.HasPrefix(head, xzMagic):
		return Xz, nil
	}
	for _, m := range magics {
		if bytes.HasPrefix(head, m.magic) {
			return None, fmt.Errorf("%w: %s", ErrUnsupported, m.name)
		}
	}
	return None, nil
}

// NewReader returns a reader of the decompressed r. Closing it releases
// the decompressor; it does not close r.
func NewReader(r io.Reader, f Format) (io.ReadCloser, error) {
	switch f {
	case None:
		return io.NopCloser(r), nil
	case Gzip:
		br, ok := r.(*bufio.Reader)
		if !ok {
			br = bufio.NewReader(r)
		}
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("reading gzip header: %w", err)
		}
		zr.Multistream(false)
		return &gzipStream{br: br, z: zr}, nil
	case Zstd:
		// The window cap bounds memory on hostile frames; 128 MiB is what
		// zstd(1) accepts without --long=31.
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(128<<20))
		if err != nil {
			return nil, fmt.Errorf("reading zstd: %w", err)
		}
		return zstdReadCloser{zr}, nil
	case Bzip2, Xz:
		return newReadOnly(r, f)
	}
	return nil, fmt.Errorf("%w: %v", ErrUnsupported, f)
}

// ErrTrailingGarbage reports bytes after a gzip stream that are neither
// another gzip member nor zero padding.
var ErrTrailingGarbage = errors.New("trailing garbage after gzip stream")

// gzipStream reads concatenated gzip members, then accepts zero padding
// (tape blocking, dd) after the last one, as gzip(1) does; other trailing
// bytes are an error wrapping ErrTrailingGarbage.
type gzipStream struct {
	br        *bufio.Reader
	z         *gzip.Reader
	memberEnd bool  // the current member ended; decide what follows
	err       error // sticky: io.EOF or the failure
}

func (g *gzipStream) Read(p []byte) (int, error) {
	for g.err == nil {
		if g.memberEnd {
			g.memberEnd = false
			g.err = g.next()
			continue
		}
		n, err := g.z.Read(p)
		if errors.Is(err, io.EOF) {
			// Report the data now and what follows the member on the next
			// call: io.ReadFull drops an error that comes with enough data.
			g.memberEnd = true
			err = nil
		}
		if n > 0 || err != nil {
			return n, err
		}
	}
	return 0, g.err
}

// next handles the end of a member: another member (nil), zero padding
// or the end of input (io.EOF), or trailing garbage.
func (g *gzipStream) next() error {
	next, err := g.br.Peek(2)
	switch {
	case len(next) == 0 && errors.Is(err, io.EOF):
		return io.EOF
	case len(next) == 0 && err != nil:
		return err
	case len(next) == 2 && next[0] == 0x1f && next[1] == 0x8b:
		if err := g.z.Reset(g.br); err != nil {
			return fmt.Errorf("reading gzip member header: %w", err)
		}
		g.z.Multistream(false)
		return nil
	}
	if err := zeroRest(g.br); err != nil {
		return err
	}
	return io.EOF
}

func (g *gzipStream) Close() error { return g.z.Close() }

// zeroRest reads r to its end and fails unless every byte is zero.
func zeroRest(r io.Reader) error {
	buf := make([]byte, 32<<10)
	var off int64
	for {
		n, err := r.Read(buf)
		for i, c := range buf[:n] {
			if c != 0 {
				return fmt.Errorf("%w (non-zero byte %d bytes after the stream)", ErrTrailingGarbage, off+int64(i))
			}
		}
		off += int64(n)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// NewReadCloser is NewReader that also closes rc on Close.
func NewReadCloser(rc io.ReadCloser, f Format) (io.ReadCloser, error) {
	zr, err := NewReader(rc, f)
	if err != nil {
		return nil, err
	}
	return &bothCloser{Reader: zr, zr: zr, rc: rc}, nil
}

type zstdReadCloser struct{ d *zstd.Decoder }

func (z zstdReadCloser) Read(p []byte) (int, error) { return z.d.Read(p) }
func (z zstdReadCloser) Close() error               { z.d.Close(); return nil }

type bothCloser struct {
	io.Reader
	zr, rc io.Closer
}

func (b *bothCloser) Close() error {
	return errors.Join(b.zr.Close(), b.rc.Close())
}

// WriterConfig configures NewWriter.
type WriterConfig struct {
	Format      Format
	Level       int // gzip 1..9, zstd 1..22; 0 for the format's default
	Concurrency int // goroutines compressing in parallel; 0 or 1 for one
	// Tee, when not nil, also receives the uncompressed bytes, in order
	// (a layer's diffID hash). With a Concurrency over 1, gzip or no
	// compression, it is written with the compressor's input on a
	// goroutine of their own, off the caller's (see asyncWriter); its
	// writes must not fail.
	Tee io.Writer
}

// NewWriter returns a compressor writing to w. Its output depends only on
// the input bytes, the format and the level: not on the concurrency, nor
// on how the input is cut into Write calls. Close flushes (and, with a
// Concurrency over 1, waits until Tee has every byte) and must be
// checked; it does not close w.
func NewWriter(w io.Writer, c WriterConfig) (io.WriteCloser, error) {
	zw, err := newCompressor(w, c)
	if err != nil {
		return nil, err
	}
	async := c.Concurrency > 1
	if async && c.Format == Zstd {
		// Let the caller run ahead of the encoder: zstd's stream encoder
		// makes Write wait while it is behind. The tee stays with the
		// caller (measured: moving it beside the encoder made no
		// difference to a zstd layer).
		zw, async = newAsyncWriter(zw), false
	}
	if c.Tee != nil {
		zw = teeCloser{io.MultiWriter(zw, c.Tee), zw}
	}
	if async && c.Tee != nil {
		// pgzip compresses on its own goroutines already; what the caller
		// gains here is the tee's hash (and the copy into pgzip's blocks).
		zw = newAsyncWriter(zw)
	}
	return zw, nil
}

// teeCloser writes to the compressor and the tee, and closes the
// compressor.
type teeCloser struct {
	io.Writer
	zw io.Closer
}

func (t teeCloser) Close() error { return t.zw.Close() }

// newCompressor returns the format's compressor, writing to w.
func newCompressor(w io.Writer, c WriterConfig) (io.WriteCloser, error) {
	conc := max(c.Concurrency, 1)
	switch c.Format {
	case None:
		return nopWriteCloser{w}, nil
	case Gzip:
		level := c.Level
		if level == 0 {
			level = 1
		}
		zw, err := pgzip.NewWriterLevel(w, level)
		if err != nil {
			return nil, fmt.Errorf("gzip level %d: %w", level, err)
		}
		if err := zw.SetConcurrency(GzipBlockSize, conc); err != nil {
			return nil, err
		}
		return zw, nil
	case Zstd:
		level := c.Level
		if level == 0 {
			level = 3
		}
		zw, err := zstd.NewWriter(w,
			zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)),
			zstd.WithEncoderConcurrency(conc),
			zstd.WithWindowSize(ZstdWindowSize))
		if err != nil {
			return nil, fmt.Errorf("zstd level %d: %w", level, err)
		}
		return zw, nil
	}
	return nil, fmt.Errorf("%w: %v", ErrUnsupported, c.Format)
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

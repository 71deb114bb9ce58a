package tartest

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/require"
	"github.com/ulikunitz/xz"
)

// Gzip returns b gzip-compressed at the default level.
func Gzip(tb testing.TB, b []byte) []byte {
	tb.Helper()
	return compress(tb, b, func(w io.Writer) (io.WriteCloser, error) { return gzip.NewWriter(w), nil })
}

// Zstd returns b zstd-compressed at the default level.
func Zstd(tb testing.TB, b []byte) []byte {
	tb.Helper()
	return compress(tb, b, func(w io.Writer) (io.WriteCloser, error) { return zstd.NewWriter(w) })
}

// Xz returns b xz-compressed.
func Xz(tb testing.TB, b []byte) []byte {
	tb.Helper()
	return compress(tb, b, func(w io.Writer) (io.WriteCloser, error) { return xz.NewWriter(w) })
}

// compress returns b written through the compressor newWriter makes.
func compress(tb testing.TB, b []byte, newWriter func(io.Writer) (io.WriteCloser, error)) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw, err := newWriter(&buf)
	require.NoError(tb, err)
	_, err = zw.Write(b)
	require.NoError(tb, err)
	require.NoError(tb, zw.Close())
	return buf.Bytes()
}

// TempFile writes b to a file called name (mode 0644) in a new directory
// of tb.TempDir, and returns its path.
func TempFile(tb testing.TB, name string, b []byte) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), name)
	require.NoError(tb, os.WriteFile(p, b, 0o644))
	return p
}

// Noise returns n incompressible bytes from src, the content of a file
// that compression must not shrink. The same src gives the same bytes.
func Noise(src rand.Source, n int) []byte {
	rng := rand.New(src)
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

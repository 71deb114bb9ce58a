package compress

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sample is n bytes of compressible, deterministic data.
func sample(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	words := []string{"layer", "tar", "gzip", "zstd", "stevedore", "\x00\x00\x00\x00", "func main() {\n", "\t}\n"}
	var b bytes.Buffer
	for b.Len() < n {
		if r.IntN(10) == 0 {
			var rnd [16]byte
			for i := range rnd {
				rnd[i] = byte(r.Uint32())
			}
			b.Write(rnd[:])
		}
		b.WriteString(words[r.IntN(len(words))])
	}
	return b.Bytes()[:n]
}

func compressWith(t *testing.T, data []byte, c WriterConfig, chunk int) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := NewWriter(&out, c)
	require.NoError(t, err)
	for p := data; len(p) > 0; {
		n := min(chunk, len(p))
		_, err := w.Write(p[:n])
		require.NoError(t, err)
		p = p[n:]
	}
	require.NoError(t, w.Close())
	return out.Bytes()
}

// TestWriterDeterministic: the compressed bytes depend on the format and
// level only, not on concurrency nor on how the input is cut into writes.
func TestWriterDeterministic(t *testing.T) {
	data := sample(3<<20 + 12345) // a dozen gzip blocks, a partial last one
	if testing.Short() {
		data = data[:1<<20+12345] // still five blocks
	}
	for _, f := range []Format{Gzip, Zstd} {
		for _, level := range []int{1, 6} {
			t.Run(fmt.Sprintf("%v-%d", f, level), func(t *testing.T) {
				ref := compressWith(t, data, WriterConfig{Format: f, Level: level, Concurrency: 1}, 1<<20)
				for _, conc := range []int{2, 4, 8} {
					for _, chunk := range []int{1000, 32 << 10, 3 << 20} {
						got := compressWith(t, data, WriterConfig{Format: f, Level: level, Concurrency: conc}, chunk)
						if !bytes.Equal(got, ref) {
							t.Errorf("NewWriter(%v, level %d, concurrency %d, writes of %d) = %x (%d bytes), concurrency 1 gives %x (%d bytes)",
								f, level, conc, chunk, sha256.Sum256(got), len(got), sha256.Sum256(ref), len(ref))
						}
					}
				}
				// And it round-trips.
				r, err := NewReader(bytes.NewReader(ref), f)
				require.NoError(t, err)
				back, err := io.ReadAll(r)
				require.NoError(t, err, "reading NewReader(NewWriter(data))")
				assert.True(t, bytes.Equal(back, data), "NewReader(NewWriter(data)) = %d bytes, want the %d written", len(back), len(data))
			})
		}
	}
}

func TestDetect(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      []byte
		want    Format
		wantErr string
	}{
		{"gzip", []byte{0x1f, 0x8b, 8, 0}, Gzip, ""},
		{"zstd", []byte{0x28, 0xb5, 0x2f, 0xfd, 0}, Zstd, ""},
		{"plain tar", []byte("hello/world\x00\x00"), None, ""},
		{"empty", nil, None, ""},
		{"one byte", []byte{0x1f}, None, ""},
		{"xz", []byte{0xfd, '7', 'z', 'X', 'Z', 0, 0}, Xz, ""},
		{"bzip2", []byte("BZh91AY&SY"), Bzip2, ""},
		{"empty bzip2", []byte("BZh9\x17\x72\x45\x38\x50\x90"), Bzip2, ""},
		{"tar entry named BZh", []byte("BZh9 not a stream\x00"), None, ""},
		{"lz4", []byte{0x04, 0x22, 0x4d, 0x18, 0}, None, "lz4"},
		{"zip", []byte("PK\x03\x04...."), None, "zip"},
	} {
		got, err := Detect(bufio.NewReader(bytes.NewReader(tc.in)))
		if tc.wantErr != "" {
			assert.ErrorIs(t, err, ErrUnsupported, "Detect(%s)", tc.name)
			assert.ErrorContains(t, err, tc.wantErr, "Detect(%s)", tc.name)
			continue
		}
		assert.NoError(t, err, "Detect(%s)", tc.name)
		assert.Equal(t, tc.want, got, "Detect(%s)", tc.name)
	}
}

func BenchmarkGzipWriter(b *testing.B) {
	data := sample(64 << 20)
	for _, conc := range []int{1, 2} {
		b.Run(fmt.Sprint("conc", conc), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				w, _ := NewWriter(io.Discard, WriterConfig{Format: Gzip, Level: 1, Concurrency: conc})
				w.Write(data)
				w.Close()
			}
		})
	}
}

func TestGzipTrailing(t *testing.T) {
	// klauspost's gzip writer: its reader returns the last data together
	// with io.EOF, the case io.ReadFull would swallow an error in.
	kgz := func(s string) []byte {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		w.Write([]byte(s))
		w.Close()
		return b.Bytes()
	}
	gz, gz2 := kgz("hello"), kgz(" world")
	for _, tc := range []struct {
		name    string
		in      []byte
		want    string
		wantErr error
	}{
		{"one member", gz, "hello", nil},
		{"two members", append(bytes.Clone(gz), gz2...), "hello world", nil},
		{"zero padding", append(bytes.Clone(gz), make([]byte, 1536)...), "hello", nil},
		{"one zero byte", append(bytes.Clone(gz), 0), "hello", nil},
		{"garbage", append(bytes.Clone(gz), "garbage"...), "hello", ErrTrailingGarbage},
		{"zeros then garbage", append(append(bytes.Clone(gz), make([]byte, 100)...), 1), "hello", ErrTrailingGarbage},
	} {
		r, err := NewReader(bytes.NewReader(tc.in), Gzip)
		require.NoError(t, err)
		// Read exactly the content first, as archive/tar does with
		// io.ReadFull: a trailing error must not be lost with the data.
		got := make([]byte, len(tc.want))
		_, err = io.ReadFull(r, got)
		if tc.wantErr == nil {
			require.NoError(t, err, "%s: ReadFull()", tc.name)
		}
		rest, err := io.ReadAll(r)
		got = append(got, rest...)
		if tc.wantErr != nil {
			assert.ErrorIs(t, err, tc.wantErr, "%s: ReadAll() after %q", tc.name, got)
			continue
		}
		assert.NoError(t, err, "%s: ReadAll()", tc.name)
		assert.Equal(t, tc.want, string(got), "%s: content", tc.name)
	}
}

// TestZstdWindowCap: a frame asking for a window over 128 MiB is refused
// instead of allocating it.
func TestZstdWindowCap(t *testing.T) {
	// A hand-made frame: magic, header (no content size, window descriptor
	// 2^(10+exponent)), one raw last block holding "hello".
	frame := func(exponent byte) []byte {
		return append([]byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, exponent << 3, 0x29, 0x00, 0x00}, "hello"...)
	}
	for _, tc := range []struct {
		exponent byte
		ok       bool
	}{{13, true}, {17, true}, {18, false}, {31, false}} {
		r, err := NewReader(bytes.NewReader(frame(tc.exponent)), Zstd)
		var got []byte
		if err == nil {
			got, err = io.ReadAll(r)
		}
		if !tc.ok {
			assert.Error(t, err, "window 2^%d: read %q", 10+tc.exponent, got)
			continue
		}
		assert.NoError(t, err, "window 2^%d", 10+tc.exponent)
		assert.Equal(t, "hello", string(got), "window 2^%d", 10+tc.exponent)
	}
}

// TestWriterTee: Tee receives exactly the bytes written, in order, by the
// time Close returns, whatever the format and concurrency, and the
// compressed output is the one without a Tee.
func TestWriterTee(t *testing.T) {
	data := sample(1<<20 + 777)
	for _, f := range []Format{None, Gzip, Zstd} {
		ref := compressWith(t, data, WriterConfig{Format: f, Concurrency: 1}, 1<<20)
		for _, conc := range []int{1, 2, 4} {
			for _, chunk := range []int{1000, 300 << 10} {
				var tee bytes.Buffer
				got := compressWith(t, data, WriterConfig{Format: f, Concurrency: conc, Tee: &tee}, chunk)
				assert.True(t, bytes.Equal(data, tee.Bytes()), "%v, concurrency %d, writes of %d: the tee has %d bytes, want the %d written, in order", f, conc, chunk, tee.Len(), len(data))
				assert.True(t, bytes.Equal(ref, got), "%v, concurrency %d, writes of %d: output with a tee differs from the one without", f, conc, chunk)
			}
		}
	}
}

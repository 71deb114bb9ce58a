package compress

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
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
	if err != nil {
		t.Fatal(err)
	}
	for p := data; len(p) > 0; {
		n := min(chunk, len(p))
		if _, err := w.Write(p[:n]); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestWriterDeterministic: the compressed bytes depend on the format and
// level only, not on concurrency nor on how the input is cut into writes.
func TestWriterDeterministic(t *testing.T) {
	data := sample(9<<20 + 12345) // several gzip blocks, a partial last one
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
				if err != nil {
					t.Fatal(err)
				}
				back, err := io.ReadAll(r)
				if err != nil || !bytes.Equal(back, data) {
					t.Errorf("NewReader(NewWriter(data)) = %d bytes, %v; want %d bytes", len(back), err, len(data))
				}
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
		{"xz", []byte{0xfd, '7', 'z', 'X', 'Z', 0, 0}, None, "xz"},
		{"bzip2", []byte("BZh91AY&SY"), None, "bzip2"},
		{"lz4", []byte{0x04, 0x22, 0x4d, 0x18, 0}, None, "lz4"},
		{"zip", []byte("PK\x03\x04...."), None, "zip"},
	} {
		got, err := Detect(bufio.NewReader(bytes.NewReader(tc.in)))
		if tc.wantErr != "" {
			if !errors.Is(err, ErrUnsupported) || !bytes.Contains([]byte(err.Error()), []byte(tc.wantErr)) {
				t.Errorf("Detect(%s) = %v, %v; want error naming %s", tc.name, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Detect(%s) = %v, %v; want %v", tc.name, got, err, tc.want)
		}
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

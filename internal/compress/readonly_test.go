package compress

import (
	"archive/tar"
	"bufio"
	"bytes"
	"io"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/internal/tartest"
)

// firstEntry detects the compression of b, decompresses it and returns
// the name and content of its first tar entry.
func firstEntry(t *testing.T, b []byte) (Format, string, string) {
	t.Helper()
	br := bufio.NewReader(bytes.NewReader(b))
	f, err := Detect(br)
	require.NoError(t, err)
	zr, err := NewReader(br, f)
	require.NoError(t, err)
	defer zr.Close()
	for _, e := range tartest.Read(t, zr) {
		if e.Header.Typeflag == tar.TypeReg {
			return f, e.Header.Name, e.Body
		}
	}
	t.Fatalf("the %v stream holds no regular file", f)
	return f, "", ""
}

func TestReadOnlyFormats(t *testing.T) {
	// testdata/hello.tar.bz2 was made by bzip2(1) (the standard library
	// writes no bzip2): tar of d/hello.txt, "hello from bzip2\n".
	bz, err := os.ReadFile("testdata/hello.tar.bz2")
	require.NoError(t, err)

	xzTar := tartest.Xz(t, tartest.Bytes(t, tartest.File("x/y.txt", "xz ok\n")))

	for _, tc := range []struct {
		name        string
		in          []byte
		format      Format
		entry, body string
	}{
		{"bzip2", bz, Bzip2, "d/hello.txt", "hello from bzip2\n"},
		{"xz", xzTar, Xz, "x/y.txt", "xz ok\n"},
	} {
		f, name, body := firstEntry(t, tc.in)
		assert.Equal(t, tc.format, f, "Detect(%s)", tc.name)
		assert.Equal(t, tc.entry, name, "first entry of %s", tc.name)
		assert.Equal(t, tc.body, body, "content of %s", tc.name)
	}
}

func TestReadOnlyFormatsCorrupt(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		f    Format
	}{
		{"bzip2", []byte("BZh91AY&SYgarbagegarbage"), Bzip2},
		{"xz", append(append([]byte{}, xzMagic...), "garbagegarbage"...), Xz},
	} {
		zr, err := NewReader(bytes.NewReader(tc.in), tc.f)
		if err == nil {
			_, err = io.ReadAll(zr)
		}
		assert.Error(t, err, "reading corrupt %s", tc.name)
	}
}

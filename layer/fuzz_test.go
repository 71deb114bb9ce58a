package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/internal/tartest"
)

// FuzzRewrite feeds arbitrary bytes to a tarball source, with fuzzed
// strip and root: building never panics, every output name is clean and
// relative, and when the input is a valid tar that builds, each regular
// file's content arrives under its mapped name.
func FuzzRewrite(f *testing.F) {
	seeds := [][]byte{
		tartest.Bytes(f, tartest.Dir("a/"), tartest.File("a/b", "hello"), tartest.Symlink("a/l", "b"), tartest.Hardlink("a/h", "a/b")),
		tartest.Bytes(f, tartest.File("../escape", "x")),
		tartest.Bytes(f, tartest.Symlink("a", "/etc"), tartest.File("a/passwd", "x")),
		tartest.Bytes(f, tartest.File("/abs/x", "y"), tartest.File("./dot/../z", "z")),
		tartest.Bytes(f, tartest.File(strings.Repeat("n", 150)+"/"+strings.Repeat("m", 120), "long")),
		tartest.Gzip(f, tartest.Bytes(f, tartest.File("f", "gz"))),
		tartest.Zstd(f, tartest.Bytes(f, tartest.File("f", "zst"))),
		{},
		[]byte("not a tar at all"),
	}
	for i, s := range seeds {
		f.Add(s, uint8(i%3), "/usr/local")
	}
	dirTmp := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte, strip uint8, root string) {
		p := filepath.Join(dirTmp, "in")
		require.NoError(t, os.WriteFile(p, data, 0o644))
		src := []SourceOption{WithSizeLimit(8 << 20)}
		rewritten := false
		if strip%4 != 0 {
			src = append(src, WithStripComponents(int(strip%4)))
			rewritten = true
		}
		if root != "" {
			src = append(src, WithRoot(root))
			rewritten = true
		}
		l, err := New(context.Background(), []Source{Tarball(p, src...)}, WithCompression(Uncompressed), WithTempDir(dirTmp))
		if err != nil {
			return // an invalid root: an option error, checked elsewhere
		}
		if _, err := l.Digest(); err != nil {
			return
		}
		rc, err := l.Uncompressed()
		require.NoError(t, err, "Uncompressed()")
		defer rc.Close()
		out := cleanOutputFiles(t, rc)
		// Round trip: plain-tar inputs that parse fully.
		if rewritten || len(data) == 0 {
			return
		}
		in, ok := inputFiles(data)
		if !ok {
			return
		}
		for name, body := range in {
			got, present := out[name]
			assert.True(t, present && got == body, "input file %q (%d bytes): output has %q (present %v)", name, len(body), got, present)
		}
	})
}

// cleanOutputFiles reads a layer tar, fails the test at a name that is not
// clean and relative, and returns its regular files: name -> content.
func cleanOutputFiles(t *testing.T, r io.Reader) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, e := range tartest.Read(t, r) {
		n := strings.TrimSuffix(e.Header.Name, "/")
		if n == "" || path.Clean(n) != n || strings.HasPrefix(n, "/") || n == ".." || strings.HasPrefix(n, "../") {
			t.Fatalf("output name %q is not clean and relative", e.Header.Name)
		}
		if e.Header.Typeflag == tar.TypeReg {
			out[n] = e.Body
		}
	}
	return out
}

// inputFiles returns the regular files of the plain tar data, under their
// cleaned names, and whether data parsed fully as a tar.
func inputFiles(data []byte) (map[string]string, bool) {
	in := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return in, true
		}
		if err != nil {
			return nil, false
		}
		if h.Typeflag == tar.TypeReg || h.Typeflag == tar.TypeRegA {
			b, err := io.ReadAll(tr)
			if err != nil {
				return nil, false
			}
			in[path.Clean(strings.TrimLeft(h.Name, "/"))] = string(b)
		}
	}
}

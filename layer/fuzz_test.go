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
)

// FuzzRewrite feeds arbitrary bytes to a tarball source, with fuzzed
// strip and root: building never panics, every output name is clean and
// relative, and when the input is a valid tar that builds, each regular
// file's content arrives under its mapped name.
func FuzzRewrite(f *testing.F) {
	seeds := [][]byte{
		tarBytes(f, dir("a/"), reg("a/b", "hello"), symlink("a/l", "b"), hardlink("a/h", "a/b")),
		tarBytes(f, reg("../escape", "x")),
		tarBytes(f, symlink("a", "/etc"), reg("a/passwd", "x")),
		tarBytes(f, reg("/abs/x", "y"), reg("./dot/../z", "z")),
		tarBytes(f, reg(strings.Repeat("n", 150)+"/"+strings.Repeat("m", 120), "long")),
		gzipBytes(f, tarBytes(f, reg("f", "gz"))),
		zstdBytes(f, tarBytes(f, reg("f", "zst"))),
		{},
		[]byte("not a tar at all"),
	}
	for i, s := range seeds {
		f.Add(s, uint8(i%3), "/usr/local")
	}
	dirTmp := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte, strip uint8, root string) {
		p := filepath.Join(dirTmp, "in")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
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
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		out := map[string]string{}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("output is not a valid tar: %v", err)
			}
			n := strings.TrimSuffix(h.Name, "/")
			if n == "" || path.Clean(n) != n || strings.HasPrefix(n, "/") || n == ".." || strings.HasPrefix(n, "../") {
				t.Fatalf("output name %q is not clean and relative", h.Name)
			}
			if h.Typeflag == tar.TypeReg {
				b, _ := io.ReadAll(tr)
				out[n] = string(b)
			}
		}
		// Round trip: plain-tar inputs that parse fully.
		if rewritten || len(data) == 0 {
			return
		}
		in := map[string]string{}
		itr := tar.NewReader(bytes.NewReader(data))
		for {
			h, err := itr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return
			}
			if h.Typeflag == tar.TypeReg || h.Typeflag == tar.TypeRegA {
				b, err := io.ReadAll(itr)
				if err != nil {
					return
				}
				name := path.Clean(strings.TrimLeft(h.Name, "/"))
				in[name] = string(b)
			}
		}
		for name, body := range in {
			if got, ok := out[name]; !ok || got != body {
				t.Errorf("input file %q (%d bytes): output has %q (present %v)", name, len(body), got, ok)
			}
		}
	})
}

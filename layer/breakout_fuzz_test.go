package layer_test

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/internal/tartest"
	"github.com/stevedore-dev/stevedore/layer"
)

// FuzzLayerSafety builds layers from fuzzed tarballs of files,
// directories, symlinks and hardlinks (one entry per line: a kind letter
// f, d, l or h, a space, the name, and for links a space and the target),
// with fuzzed WithStripComponents and WithRoot, and extracts every layer
// that builds the way a naive extractor would (checkNaiveExtract),
// checking that it never could write outside the root.
func FuzzLayerSafety(f *testing.F) {
	f.Add("d a/\nf a/b\nl a/l /etc\nf a/l/passwd", uint8(0), "")
	f.Add("l a /etc\nd a/\nf a/passwd\nh a/h a/passwd", uint8(0), "/usr/local")
	f.Add("f go/bin/go\nh go/bin/gofmt go/bin/go\nl go/link bin\nf go/link/x", uint8(1), "/opt")
	f.Add("f ../x\nf a/../../b\nh c ../../etc/shadow", uint8(0), "")
	f.Add("l usr/local ../../..\nf usr/local/x", uint8(0), "/")
	f.Add("f /abs\nd /abs/\nf /abs/x", uint8(2), "a/b")
	dirTmp := f.TempDir()
	f.Fuzz(func(t *testing.T, spec string, strip uint8, root string) {
		var buf bytes.Buffer
		if _, err := tartest.New(specEntries(spec)...).WriteTo(&buf); err != nil {
			return // a name archive/tar cannot write
		}
		p := filepath.Join(dirTmp, "in.tar")
		require.NoError(t, os.WriteFile(p, buf.Bytes(), 0o644))
		opts := []layer.SourceOption{layer.WithStripComponents(int(strip % 3))}
		if root != "" {
			opts = append(opts, layer.WithRoot(root))
		}
		l, err := layer.New(context.Background(), []layer.Source{layer.Tarball(p, opts...)}, layer.WithCompression(layer.Uncompressed), layer.WithTempDir(dirTmp))
		if err != nil {
			return // an invalid option (root)
		}
		if _, err := l.Digest(); err != nil {
			return
		}
		rc, err := l.Uncompressed()
		require.NoError(t, err, "Uncompressed()")
		defer rc.Close()
		checkNaiveExtract(t, fmt.Sprintf("spec %q strip %d root %q", spec, strip%3, root), rc)
	})
}

// specEntries parses FuzzLayerSafety's spec: one entry per line, a kind
// letter f, d, l or h, a space, the name, and for links a space and the
// target. Lines it cannot read are skipped.
func specEntries(spec string) []tartest.Entry {
	var ents []tartest.Entry
	for _, line := range strings.Split(spec, "\n") {
		fields := strings.SplitN(line, " ", 3)
		if len(fields) < 2 || fields[1] == "" {
			continue
		}
		switch fields[0] {
		case "f":
			ents = append(ents, tartest.File(fields[1], "x"))
		case "d":
			ents = append(ents, tartest.Dir(fields[1]))
		case "l", "h":
			if len(fields) < 3 || fields[2] == "" {
				continue
			}
			if fields[0] == "l" {
				ents = append(ents, tartest.Symlink(fields[1], fields[2]))
			} else {
				ents = append(ents, tartest.Hardlink(fields[1], fields[2]))
			}
		}
	}
	return ents
}

// checkNaiveExtract reads the layer tar r as a naive extractor would and
// fails the test if it could write outside the root: every name is clean
// and relative, no entry is placed under a name that is a symlink at that
// point of the stream, and every hardlink points at a regular file placed
// earlier, through no symlink. what names the input in failures.
func checkNaiveExtract(t *testing.T, what string, r io.Reader) {
	t.Helper()
	kind := map[string]byte{} // what each name is at this point of the stream
	through := func(name string) string {
		for i := range len(name) {
			if name[i] == '/' && kind[name[:i]] == tar.TypeSymlink {
				return name[:i]
			}
		}
		return ""
	}
	for _, e := range tartest.Read(t, r) {
		h := e.Header
		name := strings.TrimSuffix(h.Name, "/")
		if name == "" || path.Clean(name) != name || path.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			t.Fatalf("%s: entry %q is not clean and relative", what, h.Name)
		}
		if s := through(name); s != "" {
			t.Fatalf("%s: entry %q is placed through the symlink %q", what, h.Name, s)
		}
		if h.Typeflag == tar.TypeLink {
			if kind[h.Linkname] != tar.TypeReg {
				t.Fatalf("%s: hardlink %q to %q, which is not an earlier regular file", what, h.Name, h.Linkname)
			}
			if s := through(h.Linkname); s != "" {
				t.Fatalf("%s: hardlink %q target %q goes through the symlink %q", what, h.Name, h.Linkname, s)
			}
		}
		k := h.Typeflag
		if k == tar.TypeLink {
			k = tar.TypeReg
		}
		kind[name] = k
	}
}

package layer_test

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// bCheckErr checks that err wraps want and names every one of names.
func bCheckErr(t *testing.T, call string, err, want error, names []string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s = nil error, want one wrapping %v", call, want)
	}
	if !errors.Is(err, want) {
		t.Errorf("%s = %v, want an error wrapping %v", call, err, want)
	}
	for _, n := range names {
		if !strings.Contains(err.Error(), n) {
			t.Errorf("%s = %v, want it to name %s", call, err, n)
		}
	}
}

// bSummary lists a layer's entries, one per line: name, typeflag, mode in
// octal, then "-> target" for links, "major,minor" for devices, and the
// quoted content of regular files.
func bSummary(t testing.TB, l interface {
	Uncompressed() (io.ReadCloser, error)
}) string {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatalf("Uncompressed() = %v", err)
	}
	defer rc.Close()
	var sb strings.Builder
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return sb.String()
		}
		if err != nil {
			t.Fatalf("reading the layer: %v", err)
		}
		fmt.Fprintf(&sb, "%s %c %04o", h.Name, h.Typeflag, h.Mode)
		switch h.Typeflag {
		case tar.TypeSymlink, tar.TypeLink:
			fmt.Fprintf(&sb, " -> %s", h.Linkname)
		case tar.TypeChar, tar.TypeBlock:
			fmt.Fprintf(&sb, " %d,%d", h.Devmajor, h.Devminor)
		case tar.TypeReg:
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatalf("reading %s: %v", h.Name, err)
			}
			fmt.Fprintf(&sb, " %q", b)
		}
		sb.WriteByte('\n')
	}
}

package layer_test

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// bCheckErr checks that err wraps want and names every one of names.
func bCheckErr(t *testing.T, call string, err, want error, names []string) {
	t.Helper()
	require.Error(t, err, "%s: want an error wrapping %v", call, want)
	assert.ErrorIs(t, err, want, call)
	for _, n := range names {
		assert.ErrorContains(t, err, n, "%s: want it to name %s", call, n)
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
	require.NoError(t, err, "Uncompressed()")
	defer rc.Close()
	var sb strings.Builder
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return sb.String()
		}
		require.NoError(t, err, "reading the layer")
		fmt.Fprintf(&sb, "%s %c %04o", h.Name, h.Typeflag, h.Mode)
		switch h.Typeflag {
		case tar.TypeSymlink, tar.TypeLink:
			fmt.Fprintf(&sb, " -> %s", h.Linkname)
		case tar.TypeChar, tar.TypeBlock:
			fmt.Fprintf(&sb, " %d,%d", h.Devmajor, h.Devminor)
		case tar.TypeReg:
			b, err := io.ReadAll(tr)
			require.NoError(t, err, "reading %s", h.Name)
			fmt.Fprintf(&sb, " %q", b)
		}
		sb.WriteByte('\n')
	}
}

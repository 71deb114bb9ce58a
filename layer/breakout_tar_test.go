package layer_test

import (
	"archive/tar"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/internal/tartest"
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
	var sb strings.Builder
	for _, e := range tartest.ReadLayer(t, l) {
		h := e.Header
		fmt.Fprintf(&sb, "%s %c %04o", h.Name, h.Typeflag, h.Mode)
		switch h.Typeflag {
		case tar.TypeSymlink, tar.TypeLink:
			fmt.Fprintf(&sb, " -> %s", h.Linkname)
		case tar.TypeChar, tar.TypeBlock:
			fmt.Fprintf(&sb, " %d,%d", h.Devmajor, h.Devminor)
		case tar.TypeReg:
			fmt.Fprintf(&sb, " %q", e.Body)
		}
		sb.WriteByte('\n')
	}
	return sb.String()
}

package layer

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/internal/tartest"
)

// got is one entry read back from a layer.
type got struct {
	Name     string
	Type     byte
	Mode     int64
	Link     string
	UID, GID int
	MTime    int64
	Body     string
	Uname    string
}

func (g got) String() string {
	s := fmt.Sprintf("%s %c %o", g.Name, g.Type, g.Mode)
	if g.Link != "" {
		s += " -> " + g.Link
	}
	if g.Body != "" {
		s += fmt.Sprintf(" %q", g.Body)
	}
	return s
}

// entries reads a layer's uncompressed tar.
func entries(t testing.TB, l v1.Layer) []got {
	t.Helper()
	return gotOf(tartest.ReadLayer(t, l))
}

func gotOf(es []tartest.Entry) []got {
	var out []got
	for _, e := range es {
		h := e.Header
		out = append(out, got{Name: h.Name, Type: h.Typeflag, Mode: h.Mode, Link: h.Linkname,
			UID: h.Uid, GID: h.Gid, MTime: h.ModTime.Unix(), Body: e.Body, Uname: h.Uname + h.Gname})
	}
	return out
}

// summary renders entries one per line as "name type mode [-> link] [body]".
func summary(gs []got) string {
	var b strings.Builder
	for _, g := range gs {
		b.WriteString(g.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// check validates l: ggcr's validate.Layer for gzip layers, and for every
// compression a recomputation of digest, diffID and size from the bytes.
func check(t testing.TB, l v1.Layer) {
	t.Helper()
	mt, err := l.MediaType()
	require.NoError(t, err, "MediaType()")
	if mt == types.OCILayer || mt == types.DockerLayer {
		require.NoError(t, validate.Layer(l), "validate.Layer()")
	}
	rc, err := l.Compressed()
	require.NoError(t, err, "Compressed()")
	sum, n, err := hashReader(rc)
	rc.Close()
	require.NoError(t, err, "reading Compressed()")
	d, err := l.Digest()
	require.NoError(t, err, "Digest()")
	assert.Equal(t, d.String(), "sha256:"+sum, "Digest(), sha256(Compressed())")
	sz, err := l.Size()
	require.NoError(t, err, "Size()")
	assert.Equal(t, n, sz, "Size(), len(Compressed())")

	urc, err := l.Uncompressed()
	require.NoError(t, err, "Uncompressed()")
	sum, _, err = hashReader(urc)
	urc.Close()
	require.NoError(t, err, "reading Uncompressed()")
	diff, err := l.DiffID()
	require.NoError(t, err, "DiffID()")
	assert.Equal(t, diff.String(), "sha256:"+sum, "DiffID(), sha256(Uncompressed())")
}

// hashReader returns the sha256 (hex) and the length of what r holds.
func hashReader(r io.Reader) (string, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	return hex.EncodeToString(h.Sum(nil)), n, err
}

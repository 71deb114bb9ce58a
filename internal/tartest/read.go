package tartest

import (
	"archive/tar"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

// Read reads the tar stream r to its end and returns its entries as
// archive/tar reads them, each with its content as Body. It fails the
// test if the stream is not a valid tar. It holds every content in
// memory: it is for the small streams of tests.
func Read(tb testing.TB, r io.Reader) []Entry {
	tb.Helper()
	var out []Entry
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(tb, err, "reading the tar stream after %d entries", len(out))
		b, err := io.ReadAll(tr)
		require.NoError(tb, err, "reading the content of %s", h.Name)
		out = append(out, Entry{Header: *h, Body: string(b)})
	}
}

// ReadLayer reads the uncompressed tar of a layer (a go-containerregistry
// v1.Layer, or anything with its Uncompressed method) with [Read].
func ReadLayer(tb testing.TB, l interface {
	Uncompressed() (io.ReadCloser, error)
}) []Entry {
	tb.Helper()
	rc, err := l.Uncompressed()
	require.NoError(tb, err, "Uncompressed()")
	defer rc.Close()
	return Read(tb, rc)
}

package cache

import (
	"errors"
	"io"
	"os"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDerived(t *testing.T) {
	c := open(t, t.TempDir())
	data := content(7, 5000)
	write := func(w io.Writer) error { _, err := w.Write(data); return err }
	m := metaOf(t, data)
	m.Digest, m.Size = v1.Hash{}, 0
	require.NoError(t, c.StoreDerived("k", m, write))
	e := mustHit(t, c, "k", data) // with the digest and size of the bytes written

	var got []byte
	read := func(r io.Reader) (err error) { got, err = io.ReadAll(io.LimitReader(r, 10)); return err }
	require.True(t, c.LoadDerived("k", read), "LoadDerived of a stored entry")
	assert.Equal(t, data[:10], got, "what read was handed")

	assert.False(t, c.LoadDerived("k", func(io.Reader) error { return errors.New("bad") }), "read fails")
	assert.False(t, c.LoadDerived("none", read), "no entry")
	require.NoError(t, os.WriteFile(e.Path, content(8, 5000), 0o644))
	assert.False(t, c.LoadDerived("k", read), "a corrupt blob past what read reads is detected")
	mustMiss(t, c, "k")

	failed := errors.New("write failed")
	assert.ErrorIs(t, c.StoreDerived("k", Meta{}, func(io.Writer) error { return failed }), failed)
	mustMiss(t, c, "k")
	assert.Empty(t, ls(t, c.Dir(), tmpDir), "the temporary file is removed")
}

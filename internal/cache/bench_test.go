package cache

import (
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

// BenchmarkGet measures a hit: a metadata read, a blob stat and the
// access-time update.
func BenchmarkGet(b *testing.B) {
	c := open(b, b.TempDir())
	put(b, c, "k", content(1, 1<<20))
	for b.Loop() {
		_, err := c.Get("k")
		require.NoError(b, err)
	}
}

// BenchmarkCommit measures writing and committing a 1 MiB blob, syncs
// included.
func BenchmarkCommit(b *testing.B) {
	c := open(b, b.TempDir())
	data := content(1, 1<<20)
	m := metaOf(b, data)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		_, err := putErr(c, "k", data, m)
		require.NoError(b, err)
	}
}

// BenchmarkOpenRead measures reading a 1 MiB blob through Entry.Open, which
// hashes it.
func BenchmarkOpenRead(b *testing.B) {
	c := open(b, b.TempDir())
	e := put(b, c, "k", content(1, 1<<20))
	b.SetBytes(e.Size)
	for b.Loop() {
		rc, err := e.Open()
		require.NoError(b, err)
		_, err = io.Copy(io.Discard, rc)
		require.NoError(b, err)
		require.NoError(b, rc.Close())
	}
}

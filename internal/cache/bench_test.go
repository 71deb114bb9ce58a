package cache

import (
	"io"
	"testing"
)

// BenchmarkGet measures a hit: a metadata read, a blob stat and the
// access-time update.
func BenchmarkGet(b *testing.B) {
	c := open(b, b.TempDir())
	put(b, c, "k", content(1, 1<<20))
	for b.Loop() {
		if _, err := c.Get("k"); err != nil {
			b.Fatal(err)
		}
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
		if _, err := putErr(c, "k", data, m); err != nil {
			b.Fatal(err)
		}
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
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			b.Fatal(err)
		}
		rc.Close()
	}
}

package cache

import (
	"encoding/hex"
	"errors"
	"io"
)

// Derived records: entries computed from other data (a layer's file index,
// a source's content hash), kept unsynced and read fail-soft, since losing
// one costs only computing it again.

// StoreDerived makes what write writes the entry of key, unsynced (see
// Writer.CommitUnsynced), described by m with its Digest and Size set to
// those of the bytes written.
func (c *Cache) StoreDerived(key string, m Meta, write func(io.Writer) error) error {
	w, err := c.NewWriter()
	if err != nil {
		return err
	}
	if err := write(w); err != nil {
		return errors.Join(err, w.Abort())
	}
	m.Digest, m.Size = hashOf(hex.EncodeToString(w.h.Sum(nil))), w.n
	_, err = w.CommitUnsynced(key, m)
	return err
}

// LoadDerived hands the blob of the entry of key to read, then reads it to
// the end, so that its size and digest are checked (a corrupt entry is
// removed). It reports false when there is no entry, or it cannot be read,
// or read fails.
func (c *Cache) LoadDerived(key string, read func(io.Reader) error) bool {
	e, err := c.Get(key)
	if err != nil {
		return false
	}
	rc, err := e.Open()
	if err != nil {
		return false
	}
	defer rc.Close()
	if err := read(rc); err != nil {
		return false
	}
	_, err = io.Copy(io.Discard, rc)
	return err == nil
}

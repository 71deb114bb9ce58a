package cache

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
)

// KeyBuilder computes a cache key from a sequence of typed values. Every value
// is written with a type tag and, for variable-length values, its length, so
// that different sequences never produce the same bytes: ("ab", "c") and
// ("a", "bc") give different keys, and so do AddInt(1) and AddUint(1).
// A KeyBuilder is not safe for concurrent use.
type KeyBuilder struct {
	h   hash.Hash
	buf [9]byte
}

// Type tags of the values of a key.
const (
	tagString  = 's'
	tagBytes   = 'b'
	tagInt     = 'i'
	tagUint    = 'u'
	tagBool    = 't'
	tagStrings = 'l'
	tagReader  = 'r'
)

// NewKey starts a key. version names the format of what the caller adds
// (for example "layer/dir/v1"); change it whenever that changes, so old
// entries are no longer found.
func NewKey(version string) *KeyBuilder {
	b := &KeyBuilder{h: sha256.New()}
	return b.AddString("stevedore-cache-key/1").AddString(version)
}

func (b *KeyBuilder) head(tag byte, n uint64) {
	b.buf[0] = tag
	binary.BigEndian.PutUint64(b.buf[1:], n)
	b.h.Write(b.buf[:])
}

// AddString adds s.
func (b *KeyBuilder) AddString(s string) *KeyBuilder {
	b.head(tagString, uint64(len(s)))
	io.WriteString(b.h, s)
	return b
}

// AddStrings adds the list ss as one value (its length, then each string),
// so AddStrings("a", "b") differs from AddStrings("a"), AddStrings("b").
func (b *KeyBuilder) AddStrings(ss ...string) *KeyBuilder {
	b.head(tagStrings, uint64(len(ss)))
	for _, s := range ss {
		b.AddString(s)
	}
	return b
}

// AddBytes adds p.
func (b *KeyBuilder) AddBytes(p []byte) *KeyBuilder {
	b.head(tagBytes, uint64(len(p)))
	b.h.Write(p)
	return b
}

// AddInt adds i.
func (b *KeyBuilder) AddInt(i int64) *KeyBuilder {
	b.head(tagInt, uint64(i))
	return b
}

// AddUint adds u.
func (b *KeyBuilder) AddUint(u uint64) *KeyBuilder {
	b.head(tagUint, u)
	return b
}

// AddBool adds v.
func (b *KeyBuilder) AddBool(v bool) *KeyBuilder {
	var n uint64
	if v {
		n = 1
	}
	b.head(tagBool, n)
	return b
}

// AddReader adds the size bytes read from r, streaming them (for file
// contents). It fails if r holds fewer or more than size bytes; the
// KeyBuilder must not be used after a failure.
func (b *KeyBuilder) AddReader(size int64, r io.Reader) error {
	if size < 0 {
		return fmt.Errorf("cache: key: negative size %d", size)
	}
	b.head(tagReader, uint64(size))
	n, err := io.CopyN(b.h, r, size)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("cache: key: read %d bytes, want %d: %w", n, size, io.ErrUnexpectedEOF)
		}
		return fmt.Errorf("cache: key: %w", err)
	}
	var one [1]byte
	if m, err := io.ReadFull(r, one[:]); m > 0 {
		return fmt.Errorf("cache: key: more than %d bytes to read", size)
	} else if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("cache: key: %w", err)
	}
	return nil
}

// Sum returns the key: the hex sha256 of everything added, a valid key for
// Get and Commit. Adding more after Sum continues the same sequence.
func (b *KeyBuilder) Sum() string {
	return hex.EncodeToString(b.h.Sum(nil))
}

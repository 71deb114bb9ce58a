package tarx

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
)

// memSpool is the largest content kept in memory while it is compared
// with the tree below; larger content goes to an unlinked temp file.
const memSpool = 1 << 20

// unchanged reports whether the tree below already has name exactly as h
// (and e's content) would make it, so that the entry can be left out:
// same type, mode, owner, and symlink target or content digest. Times do
// not count. When the content had to be read and differs, e.Open is
// replaced by a reader of what was read.
func (w *Writer) unchanged(e *Entry, name string, h *tar.Header) (bool, error) {
	n, ok := w.lookupBelow(name)
	if !ok || n.Type != h.Typeflag || n.UID != h.Uid || n.GID != h.Gid {
		return false, nil
	}
	same := false
	switch h.Typeflag {
	case tar.TypeDir:
		same = n.Mode == h.Mode&0o7777
	case tar.TypeSymlink:
		same = n.Linkname == h.Linkname
	case tar.TypeReg:
		if n.Mode != h.Mode&0o7777 || n.Size != h.Size || n.Digest == "" {
			return false, nil
		}
		d, err := w.contentDigest(e, h.Size)
		if err != nil {
			return false, err
		}
		same = d == n.Digest
		if same && !e.Reopen {
			if rc, err := e.Open(); err == nil {
				rc.Close() // release the content kept for a write
			}
		}
	}
	if same {
		w.mark(name, &outNode{kind: kindOfType(h.Typeflag), below: true})
	}
	return same, nil
}

// contentDigest hashes an entry's content, keeping it for the write when
// the entry cannot be opened twice.
func (w *Writer) contentDigest(e *Entry, size int64) (string, error) {
	h := sha256.New()
	if size == 0 || e.Open == nil {
		return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
	}
	rc, err := e.Open()
	if err != nil {
		return "", fmt.Errorf("reading entry %q: %w", e.Source, err)
	}
	defer rc.Close()
	if e.Reopen {
		if _, err := io.Copy(h, io.LimitReader(rc, size)); err != nil {
			return "", fmt.Errorf("reading entry %q: %w", e.Source, err)
		}
		return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
	}
	var keep io.ReadWriteSeeker
	if size <= memSpool {
		keep = &bytesSeeker{}
	} else {
		f, err := os.CreateTemp(w.opts.TempDir, "stevedore-entry-*")
		if err != nil {
			return "", fmt.Errorf("spooling entry %q: %w", e.Source, err)
		}
		os.Remove(f.Name()) // unlinked: gone with the descriptor
		keep = f
	}
	if _, err := io.Copy(io.MultiWriter(h, keep), io.LimitReader(rc, size)); err != nil {
		closeIf(keep)
		return "", fmt.Errorf("reading entry %q: %w", e.Source, err)
	}
	if _, err := keep.Seek(0, io.SeekStart); err != nil {
		closeIf(keep)
		return "", err
	}
	e.Open = func() (io.ReadCloser, error) { return readCloser{keep}, nil }
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

type readCloser struct{ io.ReadWriteSeeker }

func (r readCloser) Close() error { return closeIf(r.ReadWriteSeeker) }

func closeIf(x any) error {
	if c, ok := x.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// bytesSeeker is an in-memory io.ReadWriteSeeker.
type bytesSeeker struct {
	buf bytes.Buffer
	r   *bytes.Reader
}

func (b *bytesSeeker) Write(p []byte) (int, error) { return b.buf.Write(p) }

func (b *bytesSeeker) Read(p []byte) (int, error) {
	if b.r == nil {
		b.r = bytes.NewReader(b.buf.Bytes())
	}
	return b.r.Read(p)
}

func (b *bytesSeeker) Seek(off int64, whence int) (int64, error) {
	b.r = bytes.NewReader(b.buf.Bytes())
	return b.r.Seek(off, whence)
}

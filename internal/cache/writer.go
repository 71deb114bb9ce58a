package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"os"
	"time"
)

// testHookCommit, when set by a test, is called by Commit after the blob has
// been renamed into place and before the metadata is written, with the lock
// held.
var testHookCommit func()

// Writer writes a blob to a temporary file in the cache directory; Commit
// makes it an entry, Abort throws it away. A Writer is not safe for
// concurrent use; many Writers may be used at once.
type Writer struct {
	c    *Cache
	f    *os.File
	h    hash.Hash
	n    int64
	done bool // committed or aborted
	// unsynced: CommitUnsynced, no fsync
	unsynced bool
}

// NewWriter starts a blob in a temporary file inside the cache directory
// (on the same file system, so that Commit is an atomic rename). Callers
// should `defer w.Abort()`.
func (c *Cache) NewWriter() (*Writer, error) {
	// The shared lock keeps Open's cleanup (exclusive) from seeing the file
	// before it is locked as held by a live writer.
	unlock, err := c.lock(false)
	if err != nil {
		return nil, err
	}
	defer unlock()
	f, err := os.CreateTemp(c.path(tmpDir), "blob-*.tmp")
	if err != nil {
		return nil, fmt.Errorf("cache: creating temp file: %w", err)
	}
	if err := lockTemp(f); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	if err := f.Chmod(0o644); err != nil { // CreateTemp makes it 0600
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("cache: %w", err)
	}
	return &Writer{c: c, f: f, h: sha256.New()}, nil
}

// Write writes p to the temporary file, hashing and counting it.
func (w *Writer) Write(p []byte) (int, error) {
	if w.done {
		return 0, errors.New("cache: write to a committed or aborted writer")
	}
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.n += int64(n)
	if err != nil {
		return n, fmt.Errorf("cache: writing %s: %w", w.f.Name(), err)
	}
	return n, nil
}

// Reset throws away what was written, to start the blob again.
func (w *Writer) Reset() error {
	if w.done {
		return errors.New("cache: reset of a committed or aborted writer")
	}
	if err := w.f.Truncate(0); err != nil {
		return fmt.Errorf("cache: resetting %s: %w", w.f.Name(), err)
	}
	if _, err := w.f.Seek(0, 0); err != nil {
		return fmt.Errorf("cache: resetting %s: %w", w.f.Name(), err)
	}
	w.h.Reset()
	w.n = 0
	return nil
}

// Commit makes the bytes written the entry of key, described by m. It fails
// with an error wrapping ErrMismatch (and removes the temporary file) when
// their size or sha256 differs from m.Size or m.Digest. The blob is synced
// and renamed into place, then the metadata is written and renamed, and the
// directories synced, all under the cache's lock: a crash at any point leaves
// either no entry or a complete one. An existing entry of key is replaced.
// Then, if the cache has a limit, least recently used entries are pruned;
// the entry just committed is never pruned by its own Commit.
func (w *Writer) Commit(key string, m Meta) (*Entry, error) {
	if w.done {
		return nil, errors.New("cache: commit of a committed or aborted writer")
	}
	e, err := w.commit(key, m)
	if err != nil {
		return nil, errors.Join(err, w.Abort())
	}
	return e, nil
}

// OpenBlob opens the blob being written, for reading, before it is
// committed: the file it returns keeps reading the blob's bytes after
// Commit, whatever becomes of the entry (a prune by this process or
// another may remove it as soon as Commit has released the cache's lock),
// where the file system lets an open file be removed (not Windows). Call
// it once everything is written.
func (w *Writer) OpenBlob() (*os.File, error) {
	if w.done {
		return nil, errors.New("cache: OpenBlob of a committed or aborted writer")
	}
	f, err := os.Open(w.f.Name())
	if err != nil {
		return nil, fmt.Errorf("cache: opening the blob being written: %w", err)
	}
	return f, nil
}

// CommitUnsynced is Commit without the fsyncs, for entries that are
// cheaper to recompute than to wait for the disk (a record derived from
// other data; a layer blob whose hits are verified before use). A crash
// of the machine may lose such an entry, or leave one whose blob is
// empty, short or zero-filled: Get reports a miss when the size is wrong
// (it checks nothing else), Open and Verify report ErrCorrupt when the
// sha256 is, never other bytes as the entry's.
func (w *Writer) CommitUnsynced(key string, m Meta) (*Entry, error) {
	w.unsynced = true
	return w.Commit(key, m)
}

func (w *Writer) commit(key string, m Meta) (*Entry, error) {
	if err := validateKey(key); err != nil {
		return nil, err
	}
	if err := validateMeta(m); err != nil {
		return nil, fmt.Errorf("cache: committing key %s: %w", key, err)
	}
	if sum := hex.EncodeToString(w.h.Sum(nil)); w.n != m.Size || sum != m.Digest.Hex {
		return nil, fmt.Errorf("cache: committing key %s: wrote %d bytes with sha256:%s, metadata says %d bytes %s: %w",
			key, w.n, sum, m.Size, m.Digest, ErrMismatch)
	}
	raw, err := encodeMeta(key, m)
	if err != nil {
		return nil, fmt.Errorf("cache: committing key %s: %w", key, err)
	}
	if err := w.sync(w.f); err != nil {
		return nil, fmt.Errorf("cache: syncing %s: %w", w.f.Name(), err)
	}

	unlock, err := w.c.lock(true)
	if err != nil {
		return nil, err
	}
	defer unlock()

	c := w.c
	ep, bp := c.entryPath(key), c.blobPath(m.Digest.Hex)
	var old Meta
	if raw, err := os.ReadFile(ep); err == nil {
		old, _ = decodeMeta(key, raw)
	}
	if err := os.Rename(w.f.Name(), bp); err != nil {
		return nil, fmt.Errorf("cache: committing key %s: %w", key, err)
	}
	w.done = true
	if err := w.f.Close(); err != nil {
		return nil, fmt.Errorf("cache: committing key %s: %w", key, err)
	}
	if testHookCommit != nil {
		testHookCommit()
	}
	// From here a failure leaves at worst a blob no entry refers to, which
	// Prune removes.
	if err := c.writeMeta(ep, raw, w.sync); err != nil {
		return nil, fmt.Errorf("cache: committing key %s: %w", key, err)
	}
	if !w.unsynced {
		for _, d := range []string{blobsDir, entriesDir} {
			if err := syncDir(c.path(d)); err != nil {
				return nil, err
			}
		}
	}
	info, err := os.Stat(ep)
	if err != nil {
		return nil, fmt.Errorf("cache: committing key %s: %w", key, err)
	}
	e := &Entry{Meta: m, Path: bp, c: c, key: key, raw: raw, info: info}
	if old.Digest.Hex != "" && old.Digest != m.Digest {
		// The key had another blob; drop it unless other entries share it.
		if refs, err := c.scanEntries(); err == nil && !refs.uses(old.Digest.Hex) {
			if err := removeFile(c.blobPath(old.Digest.Hex)); err != nil {
				return nil, fmt.Errorf("cache: key %s committed, but removing its old blob: %w", key, err)
			}
		}
	}
	if c.opts.limit > 0 {
		if err := c.pruneLocked(c.opts.limit, key); err != nil {
			return nil, fmt.Errorf("cache: key %s committed, but pruning: %w", key, err)
		}
	}
	return e, nil
}

// sync flushes f to stable storage, unless the writer commits unsynced.
func (w *Writer) sync(f *os.File) error {
	if w.unsynced {
		return nil
	}
	return f.Sync()
}

// writeMeta atomically replaces the file at p with raw: a temporary file,
// flushed with sync, renamed over it. Its mtime, the entry's last use, is
// set to now.
func (c *Cache) writeMeta(p string, raw []byte, sync func(*os.File) error) error {
	f, err := os.CreateTemp(c.path(tmpDir), "meta-*.tmp")
	if err != nil {
		return err
	}
	err = f.Chmod(0o644)
	if err == nil {
		_, err = f.Write(raw)
	}
	if err == nil {
		err = sync(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		now := time.Now()
		err = os.Chtimes(f.Name(), now, now)
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}

// Abort removes the temporary file. It does nothing after Commit or a
// previous Abort, so callers can always `defer w.Abort()`.
func (w *Writer) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	cerr := w.f.Close()
	if err := removeFile(w.f.Name()); err != nil {
		return err
	}
	if cerr != nil {
		return fmt.Errorf("cache: closing %s: %w", w.f.Name(), cerr)
	}
	return nil
}

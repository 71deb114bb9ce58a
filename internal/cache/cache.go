package cache

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

var (
	// ErrMiss is returned (wrapped) when a key has no valid entry.
	ErrMiss = errors.New("cache: miss")
	// ErrCorrupt is returned (wrapped) when a blob's bytes do not match its
	// entry's size or digest. The entry has been removed when it is returned.
	ErrCorrupt = errors.New("cache: corrupt entry")
	// ErrInvalidKey is returned (wrapped) for a key that is not 1 to 128
	// characters of [A-Za-z0-9._-] starting with a letter or digit.
	ErrInvalidKey = errors.New("cache: invalid key")
	// ErrMismatch is returned (wrapped) by Writer.Commit when the bytes
	// written do not have the size or digest given in the Meta.
	ErrMismatch = errors.New("cache: content does not match metadata")
)

// Layout of a cache directory. Blobs are content-addressed, so entries whose
// blobs are equal share one file.
const (
	blobsDir   = "blobs/sha256" // <hex>: blob files
	entriesDir = "entries"      // <key>.json: metadata of an entry
	tmpDir     = "tmp"          // temporary files, renamed into place
	lockName   = "lock"         // flock(2)ed around every change
	metaSuffix = ".json"
	version    = 1 // of the metadata format
)

// Cache is an on-disk store of blobs by key. It is safe for concurrent use by
// several goroutines and by several processes sharing the directory.
type Cache struct {
	dir  string
	opts options
}

// Meta describes the blob of an entry.
type Meta struct {
	Digest    v1.Hash // sha256 of the blob; required
	DiffID    v1.Hash // sha256 of the uncompressed content; optional
	Size      int64   // size of the blob in bytes
	MediaType types.MediaType
	CreatedBy string
	// Annotations are the blob's descriptor annotations (an eStargz
	// layer's TOC digest, for example); optional.
	Annotations map[string]string
}

// Entry is a valid-looking entry returned by Get or Commit. Its blob is
// checked against Meta.Size when it is looked up, and against Meta.Digest
// when it is read with Open or Verify.
type Entry struct {
	Meta
	Path string // the blob file; read it with Open to have it verified

	c    *Cache
	key  string
	raw  []byte      // the metadata file as read, and
	info fs.FileInfo // its identity, to remove exactly this entry
}

// Open opens (creating it with mode 0755 if needed) the cache in dir, and
// removes temporary files left there by processes that died while writing.
func Open(dir string, opts ...Option) (*Cache, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if dir == "" {
		return nil, errors.New("cache: empty directory name")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("cache: opening %s: %w", dir, err)
	}
	c := &Cache{dir: abs, opts: o}
	for _, d := range []string{blobsDir, entriesDir, tmpDir} {
		if err := os.MkdirAll(c.path(d), 0o755); err != nil {
			return nil, fmt.Errorf("cache: opening %s: %w", abs, err)
		}
	}
	if err := c.cleanTemp(); err != nil {
		return nil, err
	}
	return c, nil
}

// Dir returns the absolute path of the cache directory.
func (c *Cache) Dir() string { return c.dir }

func (c *Cache) path(elem ...string) string {
	return filepath.Join(append([]string{c.dir}, elem...)...)
}

func (c *Cache) lockPath() string            { return c.path(lockName) }
func (c *Cache) entryPath(key string) string { return c.path(entriesDir, key+metaSuffix) }
func (c *Cache) blobPath(hex string) string  { return c.path(blobsDir, hex) }

// Get returns the entry of key, or an error wrapping ErrMiss when there is
// none or it is invalid: metadata that cannot be parsed, a missing blob, or a
// blob whose size differs from the metadata. Invalid entries are removed.
// Get costs a small file read and a stat; it does not hash the blob. It
// records the access for least-recently-used pruning.
func (c *Cache) Get(key string) (*Entry, error) {
	if err := validateKey(key); err != nil {
		return nil, err
	}
	p := c.entryPath(key)
	raw, info, err := readFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("cache: key %s: %w", key, ErrMiss)
	}
	if err != nil {
		return nil, fmt.Errorf("cache: reading entry %s: %w", p, err)
	}
	m, err := decodeMeta(key, raw)
	if err != nil {
		return nil, errors.Join(
			fmt.Errorf("cache: entry %s: %w: %w", p, err, ErrMiss),
			c.discard(key, raw, info, "", nil))
	}
	bp := c.blobPath(m.Digest.Hex)
	fi, err := os.Stat(bp)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, errors.Join(
			fmt.Errorf("cache: key %s: blob %s is missing: %w", key, bp, ErrMiss),
			c.discard(key, raw, info, "", nil))
	case err != nil:
		return nil, fmt.Errorf("cache: key %s: %w", key, err)
	case !fi.Mode().IsRegular() || fi.Size() != m.Size:
		return nil, errors.Join(
			fmt.Errorf("cache: key %s: blob %s has %d bytes, entry says %d: %w", key, bp, fi.Size(), m.Size, ErrMiss),
			c.discard(key, raw, info, bp, fi))
	}
	now := time.Now()
	_ = os.Chtimes(p, now, now) // best effort: the entry may have been pruned meanwhile
	return &Entry{Meta: m, Path: bp, c: c, key: key, raw: raw, info: info}, nil
}

// discard removes, under the lock, the entry of key if its metadata file is
// still the one read (same file, same bytes), and the blob at blobPath if it
// is still the file blob. A concurrent Commit may have replaced either with
// a valid one, which is then kept.
func (c *Cache) discard(key string, raw []byte, info fs.FileInfo, blobPath string, blob fs.FileInfo) error {
	unlock, err := c.lock(true)
	if err != nil {
		return err
	}
	defer unlock()
	var errs []error
	if info != nil {
		p := c.entryPath(key)
		if cur, curInfo, err := readFile(p); err == nil && os.SameFile(curInfo, info) && bytes.Equal(cur, raw) {
			errs = append(errs, removeFile(p))
		}
	}
	if blob != nil {
		if cur, err := os.Stat(blobPath); err == nil && os.SameFile(cur, blob) {
			errs = append(errs, removeFile(blobPath))
		}
	}
	return errors.Join(errs...)
}

// readFile reads the file at p and returns its contents and identity.
func readFile(p string) ([]byte, fs.FileInfo, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	raw, err := io.ReadAll(f)
	if err != nil {
		return nil, nil, err
	}
	return raw, info, nil
}

func removeFile(p string) error {
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("cache: %w", err)
	}
	return nil
}

// Open returns a reader over the entry's blob. The reader hashes what it
// reads; at the end of the blob it returns an error wrapping ErrCorrupt
// (instead of io.EOF) when the size or sha256 differs from the entry's Meta,
// and removes the entry. Callers must treat such an error as the failure of
// everything read before. If the blob has been pruned since Get, the error
// wraps ErrMiss.
func (e *Entry) Open() (io.ReadCloser, error) {
	f, err := os.Open(e.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("cache: key %s: blob %s is gone: %w", e.key, e.Path, ErrMiss)
	}
	if err != nil {
		return nil, fmt.Errorf("cache: key %s: %w", e.key, err)
	}
	r, err := e.reader(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	r.f = f
	return r, nil
}

// reader reads the blob through f (with ReadAt, from its start), checking
// its size first; the reader does not close f.
func (e *Entry) reader(f *os.File) (*blobReader, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("cache: key %s: %w", e.key, err)
	}
	if fi.Size() != e.Size {
		return nil, errors.Join(
			fmt.Errorf("cache: key %s: blob %s has %d bytes, entry says %d: %w", e.key, e.Path, fi.Size(), e.Size, ErrCorrupt),
			e.c.discard(e.key, e.raw, e.info, e.Path, fi))
	}
	return &blobReader{e: e, r: io.NewSectionReader(f, 0, math.MaxInt64), fi: fi, h: sha256.New()}, nil
}

// Verify reads the whole blob and checks its size and sha256 against the
// entry's Meta. On a mismatch it removes the entry and returns an error
// wrapping ErrCorrupt; if the blob has been pruned since Get, the error wraps
// ErrMiss.
func (e *Entry) Verify() error {
	rc, err := e.Open()
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, rc)
	return errors.Join(err, rc.Close())
}

// VerifyFile is Verify of the blob read through f, a file open on the
// entry's blob since before a prune may have removed it (see
// Writer.OpenBlob): a corrupt blob is removed only if the entry still
// has it. f is read from its start (with ReadAt) and not closed.
func (e *Entry) VerifyFile(f *os.File) error {
	r, err := e.reader(f)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, r)
	return err
}

type blobReader struct {
	e   *Entry
	r   io.Reader
	f   *os.File // closed by Close; nil for VerifyFile's
	fi  fs.FileInfo
	h   hash.Hash
	n   int64
	err error // sticky
}

func (r *blobReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.r.Read(p)
	r.h.Write(p[:n])
	r.n += int64(n)
	switch {
	case r.n > r.e.Size:
		r.err = r.corrupt()
	case errors.Is(err, io.EOF):
		if sum := hex.EncodeToString(r.h.Sum(nil)); r.n != r.e.Size || sum != r.e.Digest.Hex {
			r.err = r.corrupt()
		} else {
			r.err = io.EOF
		}
	case err != nil:
		r.err = fmt.Errorf("cache: reading blob %s: %w", r.e.Path, err)
	}
	return n, r.err
}

func (r *blobReader) corrupt() error {
	return errors.Join(
		fmt.Errorf("cache: key %s: blob %s has %d+ bytes with sha256 %s, entry says %d bytes %s: %w",
			r.e.key, r.e.Path, r.n, hex.EncodeToString(r.h.Sum(nil)), r.e.Size, r.e.Digest, ErrCorrupt),
		r.e.c.discard(r.e.key, r.e.raw, r.e.info, r.e.Path, r.fi))
}

func (r *blobReader) Close() error {
	if r.f == nil {
		return nil
	}
	return r.f.Close()
}

// validateKey accepts keys that are safe as file names everywhere.
func validateKey(key string) error {
	if len(key) == 0 || len(key) > 128 || key[0] == '.' || key[0] == '-' || key[0] == '_' {
		return fmt.Errorf("%w: %q", ErrInvalidKey, key)
	}
	for i := 0; i < len(key); i++ {
		switch b := key[i]; {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9', b == '.', b == '_', b == '-':
		default:
			return fmt.Errorf("%w: %q", ErrInvalidKey, key)
		}
	}
	return nil
}

// record is the JSON form of an entry's metadata file.
type record struct {
	Version   int    `json:"version"`
	Key       string `json:"key"`
	Digest    string `json:"digest"`
	DiffID    string `json:"diffID,omitempty"`
	Size      int64  `json:"size"`
	MediaType string `json:"mediaType,omitempty"`
	CreatedBy string `json:"createdBy,omitempty"`
	// Annotations was added without a version change: older readers
	// ignore it, and entries without it have none.
	Annotations map[string]string `json:"annotations,omitempty"`
}

func validateMeta(m Meta) error {
	if err := validSHA256(m.Digest); err != nil {
		return fmt.Errorf("digest: %w", err)
	}
	if m.DiffID != (v1.Hash{}) {
		if err := validSHA256(m.DiffID); err != nil {
			return fmt.Errorf("diffID: %w", err)
		}
	}
	if m.Size < 0 {
		return fmt.Errorf("negative size %d", m.Size)
	}
	return nil
}

func validSHA256(h v1.Hash) error {
	if h.Algorithm != "sha256" || len(h.Hex) != 64 {
		return fmt.Errorf("%q is not a sha256 digest", h.String())
	}
	for i := 0; i < len(h.Hex); i++ {
		if b := h.Hex[i]; !('0' <= b && b <= '9' || 'a' <= b && b <= 'f') {
			return fmt.Errorf("%q is not a sha256 digest", h.String())
		}
	}
	return nil
}

func encodeMeta(key string, m Meta) ([]byte, error) {
	r := record{
		Version:   version,
		Key:       key,
		Digest:    m.Digest.String(),
		Size:      m.Size,
		MediaType: string(m.MediaType),
		CreatedBy: m.CreatedBy,

		Annotations: m.Annotations,
	}
	if m.DiffID != (v1.Hash{}) {
		r.DiffID = m.DiffID.String()
	}
	return json.Marshal(r)
}

func decodeMeta(key string, raw []byte) (Meta, error) {
	var r record
	if err := json.Unmarshal(raw, &r); err != nil {
		return Meta{}, fmt.Errorf("parsing metadata: %w", err)
	}
	if r.Version != version {
		return Meta{}, fmt.Errorf("metadata version %d, want %d", r.Version, version)
	}
	if r.Key != key {
		return Meta{}, fmt.Errorf("metadata is for key %q", r.Key)
	}
	m := Meta{Size: r.Size, MediaType: types.MediaType(r.MediaType), CreatedBy: r.CreatedBy, Annotations: r.Annotations}
	var err error
	if m.Digest, err = v1.NewHash(r.Digest); err != nil {
		return Meta{}, fmt.Errorf("metadata digest: %w", err)
	}
	if r.DiffID != "" {
		if m.DiffID, err = v1.NewHash(r.DiffID); err != nil {
			return Meta{}, fmt.Errorf("metadata diffID: %w", err)
		}
	}
	if err := validateMeta(m); err != nil {
		return Meta{}, err
	}
	return m, nil
}

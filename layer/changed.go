package layer

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/stevedore-dev/stevedore/internal/ctxio"
)

// Sources changed during a build. One build reads a source several
// times: its cache key hashes it (or finds its hash by a stat walk, see
// sumMemo), its bytes are written by another walk (two or three when the
// tar needs a plan), and Facts may hash it once more. A file edited in
// between would have its new bytes stored under the key of the old
// content, and served to every later build of that old content: on this
// machine, and on others through WithRemoteCache. Bazel calls the same
// guard --guard_against_concurrent_changes.
//
// So the first complete walk of a source records what it saw of each
// entry it kept (seenEntry), and every later walk of the same build must
// see the same, or fails with ErrChanged before writing the entry; each
// read of a file stats it again once its bytes are read, so that a write
// during the read is not taken for content (checkedReader). Directory
// times do not count: they change when any name in them does, and never
// reach a layer's bytes.
//
// A stat cannot tell a change made in the same clock tick as the one
// before it (see racyWindow). The files the first walk found changed that
// recently are hashed by every read, which must agree (racySums).
//
// A stat can change without the content: a touch, a save of the same
// bytes, a chmod back. When the first walk hashed a file (the cache key
// did, unless the local cache remembered the tree's hash by its stat), a
// later walk that finds the file's stat changed hashes it again, and goes
// on when the content is the same, as Bazel's guard does.

// fileState is what a stat says of a regular file's content on this
// host: its size, mtime and, where the platform tells them, inode and
// ctime (which no program can set back). A stat with no system data
// (Sys() == nil: an in-memory fs.FS such as fstest.MapFS or embed.FS)
// gives the size alone, as such a ModTime may be anything, the time of
// the call included.
type fileState struct {
	size, mtime, ctime int64
	ino                uint64
}

func stateOf(fi fs.FileInfo) fileState {
	if fi.Sys() == nil {
		return fileState{size: fi.Size()}
	}
	ino, ctime := changeID(fi)
	return fileState{size: fi.Size(), mtime: fi.ModTime().UnixNano(), ctime: ctime, ino: ino}
}

// changedAt is when a file last changed: its ctime, else its mtime
// (the zero time when the stat has neither).
func (s fileState) changedAt() time.Time {
	switch {
	case s.ctime != 0:
		return time.Unix(0, s.ctime)
	case s.mtime != 0:
		return time.Unix(0, s.mtime)
	}
	return time.Time{}
}

// seenEntry is what a walk saw of an entry it kept: what its source
// header says of its bytes, and a regular file's state and, when the
// first walk hashed it, its sha256 (hex).
type seenEntry struct {
	rel   string
	typ   byte
	mode  int64
	link  string
	dev   [2]int64
	state fileState // regular files only
	sum   string
}

func seenOf(e walked) seenEntry {
	h := e.hdr
	s := seenEntry{rel: e.rel, typ: h.Typeflag, mode: h.Mode, link: h.Linkname, dev: [2]int64{h.Devmajor, h.Devminor}}
	if h.Typeflag == tar.TypeReg {
		s.state = stateOf(e.fi)
	}
	return s
}

// firstWalk holds what the first complete walk of a source in a build
// saw.
type firstWalk struct {
	done bool
	ents []seenEntry
	racy racySums
}

// hashed records the sha256 (hex) of the entries of a walk that matched
// the first, one per entry ("" for those it did not hash).
func (w *firstWalk) hashed(sums []string) {
	if !w.done || len(sums) != len(w.ents) {
		return
	}
	for i, s := range sums {
		if s != "" {
			w.ents[i].sum = s
		}
	}
}

// walkCheck compares one walk of a source with the first (or, for the
// first walk, records it).
type walkCheck struct {
	p     *prepared
	start time.Time
	got   []seenEntry // the first walk's
	i     int         // a later walk's position in p.seen.ents
	// rehash, when not nil, hashes a regular file the walk found with
	// another stat than the first walk's.
	rehash func(walked) (string, error)
}

func (p *prepared) walkCheck() *walkCheck { return &walkCheck{p: p, start: time.Now()} }

// next checks the next entry the walk keeps.
func (c *walkCheck) next(e walked) error {
	s := seenOf(e)
	first := &c.p.seen
	if !first.done {
		c.got = append(c.got, s)
		if s.typ == tar.TypeReg && s.state.changedAt().After(c.start.Add(-racyWindow)) {
			// Now, not at the end of the walk: when the first walk is
			// the write's, its read of the file (just after) is the one
			// later reads must agree with.
			first.racy.set(s.rel, "")
		}
		return nil
	}
	if c.i >= len(first.ents) {
		return changedErr(s.rel, "added since the first read")
	}
	f := first.ents[c.i]
	c.i++
	switch {
	case f.rel != s.rel:
		return changedErr(s.rel, fmt.Sprintf("found where the first read had %q: an entry was added or removed", f.rel))
	case f.typ != s.typ || f.mode != s.mode || f.link != s.link || f.dev != s.dev:
		return changedErr(s.rel, "changed in type, mode or link target since the first read")
	case f.state != s.state:
		return c.sameContent(e, &first.ents[c.i-1], s.state)
	}
	return nil
}

// sameContent checks that the file of e, whose stat is now state, still
// has the content the first walk hashed, f.sum; then its stat is the
// first's for the walks that follow. As its stat is new, its reads are
// hashed and must find that content (see racySums).
func (c *walkCheck) sameContent(e walked, f *seenEntry, state fileState) error {
	if f.sum == "" || c.rehash == nil {
		return changedErr(e.rel, "written to since the first read")
	}
	sum, err := c.rehash(e)
	if err != nil {
		return err
	}
	if sum != f.sum {
		return changedErr(e.rel, "written to since the first read")
	}
	f.state = state
	c.p.seen.racy.set(e.rel, sum)
	return nil
}

// end completes a walk that went through: the first is recorded, a later
// one must not have missed entries of the first.
func (c *walkCheck) end() error {
	first := &c.p.seen
	if !first.done {
		first.done, first.ents = true, c.got
		return nil
	}
	if c.i < len(first.ents) {
		return changedErr(first.ents[c.i].rel, "removed since the first read")
	}
	return nil
}

// sawFile checks (or records) the stat of a single-file source
// (Tarball, HostFile): a one-entry walk. rehash, when not nil, hashes the
// file (see walkCheck).
func (p *prepared) sawFile(fi fs.FileInfo, rehash func() (string, error)) error {
	c := p.walkCheck()
	if rehash != nil {
		c.rehash = func(walked) (string, error) { return rehash() }
	}
	e := walked{rel: ".", fi: fi, hdr: &tar.Header{Typeflag: tar.TypeReg, Mode: tarMode(fi.Mode())}}
	if err := c.next(e); err != nil {
		return err
	}
	return c.end()
}

// readFile returns a checked reader of f, the open single-file source,
// after checking its stat against the first read's (see sawFile). A file
// that is not a regular file (a pipe) is read as it is, unless the first
// read found a regular file there (only those are recorded).
func (p *prepared) readFile(ctx context.Context, f *os.File) (io.Reader, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		if p.seen.done {
			return nil, changedErr(".", "replaced by "+fileKind(fi.Mode())+" since the first read")
		}
		return f, nil
	}
	if err := p.sawFile(fi, openFileSHA256(ctx, f, fi)); err != nil {
		return nil, err
	}
	return p.seen.racy.reader(newCheckedReader(f, f.Stat, fi), ".", fi.Size()), nil
}

// openFileSHA256 returns a function hashing the open single-file source
// f, whose stat is fi (see openSHA256).
func openFileSHA256(ctx context.Context, f *os.File, fi fs.FileInfo) func() (string, error) {
	return func() (string, error) {
		if testHookHash != nil {
			testHookHash(f.Name())
		}
		return openSHA256(ctx, f, fi)
	}
}

// openSHA256 is the sha256 (hex) of the open regular file f, whose stat
// is fi, read checked (see checkedReader) until ctx is done.
func openSHA256(ctx context.Context, f *os.File, fi fs.FileInfo) (string, error) {
	h := sha256.New()
	r := ctxio.Reader(ctx, io.NewSectionReader(f, 0, fi.Size()))
	if _, err := io.Copy(h, newCheckedReader(r, f.Stat, fi)); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// goneErr is err, the error of opening or statting rel, an entry a walk
// found (or, for ".", a single-file source a stat found): when rel is no
// longer there, the source changed, and the error wraps ErrChanged too.
func goneErr(rel string, err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return fmt.Errorf("%w (%w)", changedErr(rel, "removed since it was found"), err)
	}
	return err
}

// changedErr is the ErrChanged of the entry rel; for ".", of a file its
// caller names (a single-file source, or a file the walk is reading: the
// reads' callers name the entry). why is a participle ("written to since
// ...").
func changedErr(rel, why string) error {
	if rel == "." {
		return fmt.Errorf("%w: the file was %s", ErrChanged, why)
	}
	return fmt.Errorf("entry %q: %w: %s", rel, ErrChanged, why)
}

// sameFile checks that f, just opened, is still the regular file a stat
// saw as fi. Its errors do not name the file: its callers do.
func sameFile(f *os.File, fi fs.FileInfo) error {
	ofi, err := f.Stat()
	switch {
	case err != nil:
		return err
	case !os.SameFile(fi, ofi) || !ofi.Mode().IsRegular():
		return changedErr(".", "replaced since the walk")
	case stateOf(ofi) != stateOf(fi):
		return changedErr(".", "written to since the walk")
	}
	return nil
}

// checkedReader reads a regular file that a walk saw as want. Once the
// bytes the walk counted have been read, it stats the open file again: a
// file written to since the walk, or while it was read, fails the read
// with ErrChanged instead of giving torn content. Its errors do not name
// the file: the callers of its reads do.
type checkedReader struct {
	r       io.Reader
	stat    func() (fs.FileInfo, error)
	want    fileState
	n       int64
	checked bool
}

func newCheckedReader(r io.Reader, stat func() (fs.FileInfo, error), want fs.FileInfo) *checkedReader {
	return &checkedReader{r: r, stat: stat, want: stateOf(want)}
}

func (r *checkedReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.n += int64(n)
	switch {
	case err != nil && errors.Is(err, syscall.EISDIR):
		return n, changedErr(".", "replaced by a directory")
	case r.n >= r.want.size && !r.checked:
		r.checked = true
		if cerr := r.check(); cerr != nil {
			return n, cerr
		}
	case err == io.EOF && r.n < r.want.size:
		return n, changedErr(".", fmt.Sprintf("cut short while it was read (%d bytes, not %d)", r.n, r.want.size))
	}
	return n, err
}

func (r *checkedReader) check() error {
	fi, err := r.stat()
	if err != nil {
		return err
	}
	if stateOf(fi) != r.want {
		return changedErr(".", "written to while it was read")
	}
	return nil
}

func (r *checkedReader) Close() error {
	if c, ok := r.r.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// racySums holds the sha256 of a source's racily clean files: those its
// first walk found changed less than racyWindow before it began, whose
// stat cannot tell a later change in the same clock tick. Each read of
// them hashes them, and must find what the first read found. Safe for
// concurrent use (the key's hash reads files in parallel).
type racySums struct {
	mu   sync.Mutex
	sums map[string]string // "" until a read hashed the file
}

func (r *racySums) has(rel string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.sums[rel]
	return ok
}

// set makes rel racily clean: each later read hashes it, and must find
// the sha256 sum ("" for the first read's, which is not known yet).
func (r *racySums) set(rel, sum string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sums == nil {
		r.sums = make(map[string]string)
	}
	r.sums[rel] = sum
}

// agree records the sha256 (hex) a read of rel found, or checks it
// against the first one, when rel is racily clean.
func (r *racySums) agree(rel, sum string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	first, ok := r.sums[rel]
	switch {
	case !ok:
		return nil
	case first == "":
		r.sums[rel] = sum
		return nil
	case first != sum:
		return changedErr(".", "changed since the first read within its mtime's clock tick (its stat did not change)")
	}
	return nil
}

// reader returns rc, hashed as it is read when rel is racily clean: once
// size bytes are read, their sha256 must agree with the first read's.
func (r *racySums) reader(rc io.ReadCloser, rel string, size int64) io.ReadCloser {
	if !r.has(rel) {
		return rc
	}
	return &racyReader{rc: rc, racy: r, rel: rel, size: size, h: sha256.New()}
}

type racyReader struct {
	rc   io.ReadCloser
	racy *racySums
	rel  string
	size int64
	n    int64
	h    hash.Hash
}

func (r *racyReader) Read(p []byte) (int, error) {
	if r.n >= r.size {
		return r.rc.Read(p)
	}
	n, err := r.rc.Read(p)
	k := min(int64(n), r.size-r.n)
	r.h.Write(p[:k])
	r.n += k
	// A failed read (a checkedReader's stat found the file written to)
	// says why first: a hash of its bytes cannot tell more.
	if r.n == r.size && (err == nil || err == io.EOF) {
		if aerr := r.racy.agree(r.rel, hex.EncodeToString(r.h.Sum(nil))); aerr != nil {
			return n, aerr
		}
	}
	return n, err
}

func (r *racyReader) Close() error { return r.rc.Close() }

package layer

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/stevedore-dev/stevedore/internal/cache"
	"github.com/stevedore-dev/stevedore/internal/ctxio"
)

// Content keys. A layer's cache key hashes the content of its inputs,
// never host paths, inodes or times, so that a fresh clone on another
// machine finds the layers built elsewhere (WithRemoteCache). Hashing a
// tree's content means reading it; to keep an unchanged tree as cheap as
// a stat walk, the local cache remembers, for the key of a stat walk
// (names, sizes, mtimes, modes, inodes, ctimes, and the host path), the
// content hash that walk led to.

// testHookHash, when set by a test, sees every file read to hash it
// (from several goroutines).
var testHookHash func(name string)

// sumMemo remembers content hashes by stat key in the local cache. Its
// zero value (no cache) remembers nothing.
type sumMemo struct{ c *cache.Cache }

// sumMediaType is the media type of the memo entries in the cache.
const sumMediaType = "application/vnd.stevedore.content-sum.v1"

// racyWindow is how close to the start of a hash a file's last change
// (its ctime, which every change sets to the time of the change and no
// program can set back) may be for its stat to be trusted later: within
// it, a change made after the stat can leave the stat as it was, on a
// file system whose times are coarse (a clock tick of a few ms on ext4
// before Linux 6.13, 2 s on FAT). Git calls such entries "racily clean".
var racyWindow = 2 * time.Second // a variable for tests

// statWalk is the key of a stat walk, and the latest change time (ctime;
// mtime where there is none) of the files it saw.
type statWalk struct {
	k      *cache.KeyBuilder
	newest time.Time
}

func newStatWalk(kind, abs string) *statWalk {
	return &statWalk{k: cache.NewKey(kind).AddString(abs)}
}

// add adds what a stat says about a file's content, on this host.
func (s *statWalk) add(fi fs.FileInfo) {
	s.k.AddInt(fi.Size()).AddInt(fi.ModTime().UnixNano()).AddUint(uint64(fi.Mode()))
	ino, ctime := changeID(fi)
	s.k.AddUint(ino).AddInt(ctime)
	changed := fi.ModTime()
	if ctime != 0 {
		changed = time.Unix(0, ctime)
	}
	if changed.After(s.newest) {
		s.newest = changed
	}
}

// sum returns the content hash of a source whose stat walk was sw: the
// one remembered, else compute's, which is then remembered, unless a file
// changed within racyWindow of the hash (then the next build hashes
// again).
func (m sumMemo) sum(sw *statWalk, compute func() (string, error)) (string, error) {
	key := sw.k.Sum()
	if s, ok := m.get(key); ok {
		return s, nil
	}
	start := time.Now()
	s, err := compute()
	if err != nil {
		return "", err
	}
	if sw.newest.After(start.Add(-racyWindow)) {
		return s, nil
	}
	// A memo that cannot be written costs the next build a read.
	_ = m.put(key, s)
	return s, nil
}

func memoKey(statKey string) string { return "sum-" + statKey }

func (m sumMemo) get(statKey string) (string, bool) {
	if m.c == nil {
		return "", false
	}
	var s string
	ok := m.c.LoadDerived(memoKey(statKey), func(r io.Reader) error {
		b, err := io.ReadAll(io.LimitReader(r, 2*sha256.Size+1))
		if err == nil && !isHexSum(string(b)) {
			err = errNotSum
		}
		s = string(b)
		return err
	})
	if !ok {
		return "", false
	}
	return s, true
}

// errNotSum is a memo entry that does not hold a content hash.
var errNotSum = errors.New("not a content hash")

func (m sumMemo) put(statKey, s string) error {
	if m.c == nil {
		return nil
	}
	// Not synced: a memo lost in a crash costs a read of the source.
	return m.c.StoreDerived(memoKey(statKey), cache.Meta{
		MediaType: sumMediaType,
		CreatedBy: "content hash of a source, by its stat key",
	}, func(w io.Writer) error {
		_, err := io.WriteString(w, s)
		return err
	})
}

func isHexSum(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == sha256.Size
}

// addHeader adds what a walked entry's source header says of its bytes:
// relative path, type, mode, link target or device numbers, size.
func addHeader(k *cache.KeyBuilder, e walked) {
	link := e.hdr.Linkname
	if e.hdr.Typeflag == tar.TypeChar || e.hdr.Typeflag == tar.TypeBlock {
		link = fmt.Sprintf("%d,%d", e.hdr.Devmajor, e.hdr.Devminor)
	}
	k.AddString(e.rel).AddString(string(e.hdr.Typeflag)).AddInt(e.hdr.Mode).AddString(link).AddInt(e.hdr.Size)
}

// contentFunc is the content hash of a tree source (dirSource.content,
// fsSource.content).
type contentFunc func(ctx context.Context, p *prepared) (string, error)

// keyContent is the key of a tree source of kind: its rules and its
// content hash, which is kept in p for contentInput.
func keyContent(ctx context.Context, k *cache.KeyBuilder, p *prepared, kind string, content contentFunc) (bool, error) {
	keyRules(k, kind, p)
	sum, err := content(ctx, p)
	if err != nil {
		return false, err
	}
	p.sha256 = sum
	k.AddString(sum)
	return true, nil
}

// contentInput is the Input of a tree source of kind placed at dest: its
// content hash, the cache key's when keyContent computed it.
func contentInput(ctx context.Context, p *prepared, kind, dest string, content contentFunc) (Input, bool, error) {
	sum := p.sha256 // the cache key's
	if sum == "" {
		var err error
		if sum, err = content(ctx, p); err != nil {
			return Input{}, false, err
		}
	}
	return Input{Kind: kind, Digest: hexDigest(sum), Destination: dest}, true, nil
}

// keptEntries walks t and returns the entries p's rules keep, in walk
// order, then checks that every WithOnly name and include pattern
// matched (what names the source). With stat non-nil, each kept entry's
// header and stat are added to it.
func keptEntries(ctx context.Context, t fileTree, p *prepared, what string, stat *statWalk) ([]walked, error) {
	var ents []walked
	err := walk(ctx, t, p, func(e walked) (bool, error) {
		if stat != nil {
			addHeader(stat.k, e)
			stat.add(e.fi)
		}
		ents = append(ents, e)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return ents, unmatched(p, what)
}

// treeContent hashes the entries of a walk of p's source, in order: their
// headers (see addHeader) and the sha256 of each regular file's content.
// Files are read in parallel.
func treeContent(ctx context.Context, t fileTree, p *prepared, ents []walked) (string, error) {
	sums, err := fileSums(ctx, t, &p.seen.racy, ents)
	if err != nil {
		return "", err
	}
	p.seen.hashed(sums)
	k := cache.NewKey("layer/tree-content/v1").AddInt(int64(len(ents)))
	for i, e := range ents {
		addHeader(k, e)
		k.AddString(sums[i])
	}
	return k.AddString("end").Sum(), nil
}

// fileSums returns the sha256 (hex) of each regular file of ents, "" for
// other entries; racy checks those of racily clean files.
func fileSums(ctx context.Context, t fileTree, racy *racySums, ents []walked) ([]string, error) {
	sums := make([]string, len(ents))
	next := make(chan int)
	errs := make([]error, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for w := range errs {
		wg.Go(func() {
			buf := make([]byte, 64<<10)
			open := t.open
			if dt, ok := t.(*dirTree); ok {
				var c dirCursor
				defer c.close()
				open = func(rel string, fi fs.FileInfo) (io.ReadCloser, error) { return dt.openAt(&c, rel, fi) }
			}
			for i := range next {
				if errs[w] == nil {
					sums[i], errs[w] = fileSum(ctx, open, racy, ents[i], buf)
				}
			}
		})
	}
	for i, e := range ents {
		if e.hdr.Typeflag == tar.TypeReg {
			next <- i
		}
	}
	close(next)
	wg.Wait()
	return sums, errors.Join(errs...)
}

// fileSum returns the sha256 (hex) of a walked regular file, opened with
// open (which checks that it is still what the walk saw), and checks it
// with racy; buf is its read buffer.
func fileSum(ctx context.Context, open func(string, fs.FileInfo) (io.ReadCloser, error), racy *racySums, e walked, buf []byte) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if testHookHash != nil {
		testHookHash(e.rel)
	}
	rc, err := open(e.rel, e.fi)
	if err != nil {
		return "", fmt.Errorf("entry %q: %w", e.rel, err)
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.CopyBuffer(h, ctxio.Reader(ctx, rc), buf)
	if err != nil {
		return "", fmt.Errorf("entry %q: %w", e.rel, err)
	}
	if n != e.hdr.Size {
		return "", changedErr(e.rel, fmt.Sprintf("resized while it was read (%d bytes, then %d)", e.hdr.Size, n))
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if err := racy.agree(e.rel, sum); err != nil {
		return "", fmt.Errorf("entry %q: %w", e.rel, err)
	}
	return sum, nil
}

// fileSHA256 returns the sha256 (hex) of the single-file source at path,
// which a stat described as fi, and checks it with racy.
func fileSHA256(ctx context.Context, path string, fi fs.FileInfo, racy *racySums) (string, error) {
	if testHookHash != nil {
		testHookHash(path)
	}
	f, err := os.Open(path)
	if err != nil {
		return "", goneErr(".", err) // a stat found it
	}
	defer f.Close()
	if !fi.Mode().IsRegular() {
		return pipeSHA256(ctx, f, fi)
	}
	if err := sameFile(f, fi); err != nil {
		return "", err
	}
	sum, err := openSHA256(ctx, f, fi)
	if err != nil {
		return "", err
	}
	return sum, racy.agree(".", sum)
}

// pipeSHA256 is the sha256 (hex) of what the open pipe f gives, which
// must be as much as its stat fi said.
func pipeSHA256(ctx context.Context, f *os.File, fi fs.FileInfo) (string, error) {
	h := sha256.New()
	n, err := io.Copy(h, ctxio.Reader(ctx, f))
	if err != nil {
		return "", err
	}
	if n != fi.Size() {
		return "", changedErr(".", fmt.Sprintf("resized while it was read (%d bytes, then %d)", fi.Size(), n))
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

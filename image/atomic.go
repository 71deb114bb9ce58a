package image

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/stevedore-dev/stevedore/internal/ctxio"
	"github.com/stevedore-dev/stevedore/internal/flock"
)

// writeFileAtomic writes path through write: a temp file in path's
// directory, flushed, fsynced, renamed over path, and the directory synced.
// On any failure (ctx cancelled included) neither path nor the temp file is
// left behind; an existing file at path is untouched. The temp file is
// locked while it is written, so that the next write of path removes the
// temp files of writes that were killed (and only those).
//
// A symlink at path is followed: the file it names is replaced, and the
// link stays. Something at path that is not a regular file (a pipe,
// /dev/stdout, a device) is written to as it is: it cannot be replaced,
// and a failed write leaves what was written.
func writeFileAtomic(ctx context.Context, path string, write func(w io.Writer) error) error {
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		if fi.IsDir() {
			return fmt.Errorf("image: writing %s: is a directory", path)
		}
		return writeInPlace(ctx, path, write)
	}
	if target, err := filepath.EvalSymlinks(path); err == nil {
		path = target
	}
	return replaceFile(ctx, path, write)
}

// writeInPlace writes path, which is not a regular file, through write.
func writeInPlace(ctx context.Context, path string, write func(w io.Writer) error) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("image: writing %s: %w", path, err)
	}
	if err := errors.Join(writeBuffered(ctx, f, write), f.Close()); err != nil {
		return fmt.Errorf("image: writing %s: %w", path, err)
	}
	return nil
}

// writeBuffered calls write with a buffered writer to f that stops once
// ctx is done, and flushes it.
func writeBuffered(ctx context.Context, f *os.File, write func(w io.Writer) error) error {
	bw := bufio.NewWriterSize(ctxio.Writer(ctx, f), 1<<20)
	if err := write(bw); err != nil {
		return err
	}
	return bw.Flush()
}

// replaceFile is writeFileAtomic for a path that is a regular file or
// nothing.
func replaceFile(ctx context.Context, path string, write func(w io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	sweepTemps(dir, base)
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("image: writing %s: %w", path, err)
	}
	tmp := f.Name()
	if err := flock.Hold(f); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("image: writing %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := writeBuffered(ctx, f, write); err != nil {
		return fmt.Errorf("image: writing %s: %w", path, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("image: writing %s: %w", path, err)
	}
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("image: writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("image: writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("image: writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("image: writing %s: %w", path, err)
	}
	syncDir(dir)
	return nil
}

// staleTempAge is the age past which a temp file is taken as abandoned
// where locks cannot tell.
const staleTempAge = 24 * time.Hour

// sweepTemps removes the temp files that killed writes of dir/base left:
// those no live writer holds (or, without file locks, old ones).
func sweepTemps(dir, base string) {
	temps, _ := filepath.Glob(filepath.Join(dir, "."+globEscape(base)+".tmp-*"))
	for _, t := range temps {
		gone, err := flock.Abandoned(t)
		if err != nil {
			fi, serr := os.Stat(t)
			gone = serr == nil && time.Since(fi.ModTime()) > staleTempAge
		}
		if gone {
			os.Remove(t)
		}
	}
}

// globEscape escapes the pattern characters of filepath.Match in s.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// syncDir makes a rename in dir durable; failures are ignored (some file
// systems do not support fsync on directories).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// ErrBlobMismatch reports a blob whose bytes do not match its descriptor's
// size or digest.
var ErrBlobMismatch = errors.New("image: blob does not match its digest or size")

// copyBlob copies the blob want (size bytes) from r to w, checking ctx,
// the size and the digest.
func copyBlob(ctx context.Context, w io.Writer, r io.Reader, want v1.Hash, size int64) error {
	h, err := newHasher(want)
	if err != nil {
		return err
	}
	n, err := io.Copy(io.MultiWriter(w, h), ctxio.Reader(ctx, io.LimitReader(r, size+1)))
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("blob %s: %d bytes, want %d: %w", want, n, size, ErrBlobMismatch)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want.Hex {
		return fmt.Errorf("blob %s: content has digest %s:%s: %w", want, want.Algorithm, got, ErrBlobMismatch)
	}
	return nil
}

func newHasher(h v1.Hash) (hash.Hash, error) {
	if h.Algorithm != "sha256" {
		return nil, fmt.Errorf("image: blob %s: unsupported digest algorithm %q", h, h.Algorithm)
	}
	return sha256.New(), nil
}

// verifyReader checks the size and digest of what it reads when it reaches
// EOF, turning a mismatch into an error.
type verifyReader struct {
	rc   io.ReadCloser
	h    hash.Hash
	want v1.Hash
	size int64
	n    int64
}

func newVerifyReader(rc io.ReadCloser, want v1.Hash, size int64) (io.ReadCloser, error) {
	h, err := newHasher(want)
	if err != nil {
		rc.Close()
		return nil, err
	}
	return &verifyReader{rc: rc, h: h, want: want, size: size}, nil
}

func (v *verifyReader) Read(p []byte) (int, error) {
	n, err := v.rc.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	if v.n > v.size {
		return n, fmt.Errorf("image: blob %s: more than %d bytes: %w", v.want, v.size, ErrBlobMismatch)
	}
	if err == io.EOF {
		if v.n != v.size {
			return n, fmt.Errorf("image: blob %s: %d bytes, want %d: %w", v.want, v.n, v.size, ErrBlobMismatch)
		}
		if got := hex.EncodeToString(v.h.Sum(nil)); got != v.want.Hex {
			return n, fmt.Errorf("image: blob %s: content has digest sha256:%s: %w", v.want, got, ErrBlobMismatch)
		}
	}
	return n, err
}

func (v *verifyReader) Close() error { return v.rc.Close() }

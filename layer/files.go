package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/stevedore-dev/stevedore/internal/cache"
	"github.com/stevedore-dev/stevedore/internal/tarx"
)

// File is one in-memory file, directory or symlink for FromFiles and Files.
//
// Path is slash-separated, absolute or relative, and cleaned. Mode holds
// permission bits plus fs.ModeDir, fs.ModeSymlink, fs.ModeSetuid,
// fs.ModeSetgid or fs.ModeSticky; Mode 0 means a 0644 regular file.
// Linkname is the symlink target when Mode&fs.ModeSymlink != 0. A zero
// ModTime means the layer's default mtime.
type File struct {
	Path     string
	Data     []byte
	Mode     fs.FileMode
	Linkname string
	ModTime  time.Time
}

// filesSource is a list of in-memory files.
type filesSource struct {
	sourceBase
	files []File
}

// Files is an in-memory source. Files are written sorted by path; of two
// files with the same path the later in the slice wins. The slice is
// copied, Data is not.
func Files(files []File, opts ...SourceOption) Source {
	t, err := newSourceBase(kindFiles, "layer.Files", opts)
	if err != nil {
		return invalid{err}
	}
	for _, f := range files {
		if err := checkFile(f); err != nil {
			return invalid{fmt.Errorf("%w: layer.Files: %w", ErrInvalidOption, err)}
		}
	}
	return &filesSource{sourceBase: t, files: slices.Clone(files)}
}

func checkFile(f File) error {
	switch p, ok := cleanRel(f.Path); {
	case !ok || p == "":
		return fmt.Errorf("invalid path %q", f.Path)
	case f.Mode&fs.ModeSymlink != 0 && f.Linkname == "":
		return fmt.Errorf("symlink %q has no Linkname", f.Path)
	case f.Mode&(fs.ModeNamedPipe|fs.ModeSocket|fs.ModeDevice|fs.ModeCharDevice|fs.ModeIrregular) != 0:
		return fmt.Errorf("%q: unsupported mode %v", f.Path, f.Mode)
	}
	return nil
}

func (s *filesSource) describe() string { return fmt.Sprintf("files %d -> %s", len(s.files), s.root()) }

// sorted returns the files sorted by clean path, the last of several
// with one path only.
func (s *filesSource) sorted() []File {
	files := slices.Clone(s.files)
	for i := range files {
		files[i].Path, _ = cleanRel(files[i].Path)
	}
	slices.SortStableFunc(files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	out := files[:0]
	for i, f := range files {
		if i+1 < len(files) && files[i+1].Path == f.Path {
			continue // a later file has the same path
		}
		out = append(out, f)
	}
	return out
}

func (s *filesSource) write(ctx context.Context, w *tarx.Writer, p *prepared) error {
	for _, f := range s.sorted() {
		if err := ctx.Err(); err != nil {
			return err
		}
		e := tarx.Entry{Header: fileHeader(f.Path, f), Source: f.Path}
		if data := f.Data; e.Header.Typeflag == tar.TypeReg {
			e.Open = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
			e.Reopen = true
		}
		if _, err := place(w, p, e); err != nil {
			return fmt.Errorf("files: %w", err)
		}
	}
	return unmatched(p, "files")
}

// key hashes every file, content included (see content).
func (s *filesSource) key(_ context.Context, k *cache.KeyBuilder, p *prepared) (bool, error) {
	keyRules(k, "files", p)
	k.AddString(s.content())
	return true, nil
}

func (s *filesSource) input(context.Context, *prepared) (Input, bool, error) {
	return Input{Kind: "files", Digest: hexDigest(s.content()), Destination: s.root()}, true, nil
}

// content hashes every file: path, mode, link target, time and bytes.
func (s *filesSource) content() string {
	k := cache.NewKey("layer/files-content/v1").AddInt(int64(len(s.files)))
	for _, f := range s.files {
		k.AddString(f.Path).AddUint(uint64(f.Mode)).AddString(f.Linkname).AddInt(writtenUnix(f.ModTime)).AddBool(f.ModTime.IsZero()).AddBytes(f.Data)
	}
	return k.Sum()
}

// writtenUnix is the second an mtime is written as: archive/tar rounds
// it to the nearest second (two times of one second may be written
// differently); a time before the epoch is replaced by the layer's, so
// it stays negative.
func writtenUnix(t time.Time) int64 {
	if u := t.Unix(); u < 0 {
		return u
	}
	return t.Round(time.Second).Unix()
}

// fileHeader is the source header of an in-memory File.
func fileHeader(name string, f File) *tar.Header {
	hdr := modeHeader(name, f.Mode)
	hdr.ModTime = f.ModTime
	switch {
	case f.Mode&fs.ModeDir != 0:
		hdr.Typeflag = tar.TypeDir
		if f.Mode.Perm() == 0 {
			hdr.Mode |= 0o755
		}
	case f.Mode&fs.ModeSymlink != 0:
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, f.Linkname
		if f.Mode.Perm() == 0 {
			hdr.Mode |= 0o777
		}
	default:
		hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(f.Data))
		if f.Mode.Perm() == 0 {
			hdr.Mode |= 0o644
		}
	}
	return hdr
}

package layer

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/stevedore-dev/stevedore/internal/cache"
	"github.com/stevedore-dev/stevedore/internal/ctxio"
	"github.com/stevedore-dev/stevedore/internal/tarx"
)

// hostFile is one host file placed under a name of its own.
type hostFile struct {
	sourceBase
	path string // host path, as given
	dst  string // clean relative name in the layer
}

// HostFile is one regular file of the host placed at dst, a slash path in
// the image (absolute, or relative to "/"), whatever its name on the host:
// `COPY app /bin/server`. A dst ending in "/" is a directory, and the file
// keeps its host name in it, as with `COPY app /bin/`. The file is opened with os.Open, so a symlink is
// followed; anything but a regular file fails the build. Its permission
// bits (setuid, setgid and sticky included) are kept; its mtime and owner
// are replaced as for Dir (see WithModTime, WithOwner). With WithCache the
// file is keyed like a Tarball without WithSHA256, by its content (and
// its mode), which a stat of the file finds again without reading it.
// WithOwner, WithModTime and WithChmod are the options that make sense.
func HostFile(path, dst string, opts ...SourceOption) Source {
	t, err := newSource(kindHostFile, "layer.HostFile", opts, path == "", "empty path")
	if strings.HasSuffix(dst, "/") && path != "" {
		dst += filepath.Base(path) // a directory: the file goes in it
	}
	c, ok := cleanRel(dst)
	switch {
	case err != nil:
		return invalid{err}
	case !ok || c == "":
		return invalid{fmt.Errorf("%w: layer.HostFile: invalid destination %q", ErrInvalidOption, dst)}
	}
	return &hostFile{sourceBase: t, path: path, dst: c}
}

func (h *hostFile) describe() string { return "file -> /" + tarxJoin(h.opts.root, h.dst) }

func (h *hostFile) input(ctx context.Context, p *prepared) (Input, bool, error) {
	sum := p.sha256 // the cache key's
	if sum == "" {
		var err error
		if sum, _, err = h.sha(ctx, p); err != nil {
			return Input{}, false, err
		}
	}
	return Input{Kind: "file", Digest: hexDigest(sum), Destination: "/" + tarxJoin(h.opts.root, h.dst)}, true, nil
}

// key is the file's content and mode, never its host path or stat (see
// WithCache): the sha256 of its bytes, remembered by its stat, and kept
// in p for input.
func (h *hostFile) key(ctx context.Context, k *cache.KeyBuilder, p *prepared) (bool, error) {
	keyRules(k, "hostfile", p)
	sum, fi, err := h.sha(ctx, p)
	if err != nil {
		return false, err
	}
	p.sha256 = sum
	k.AddString(h.dst).AddInt(tarMode(fi.Mode())).AddString(sum)
	return true, nil
}

// sha is the sha256 (hex) of the file, which must be a regular file, and
// its stat.
func (h *hostFile) sha(ctx context.Context, p *prepared) (string, fs.FileInfo, error) {
	abs, fi, err := statAbs(h.path)
	if err != nil {
		return "", nil, fmt.Errorf("file: %w", err)
	}
	if err := regularHostFile(h.path, fi); err != nil {
		return "", nil, err
	}
	sum, err := statSHA256(ctx, abs, fi, p)
	if err != nil {
		return "", nil, fmt.Errorf("file %s: %w", h.path, err)
	}
	return sum, fi, nil
}

// regularHostFile reports a file the stat fi shows is not a regular file.
func regularHostFile(path string, fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("file %s: %w: %s, not a regular file", path, ErrUnsupportedEntry, fileKind(fi.Mode()))
	}
	return nil
}

func (h *hostFile) write(ctx context.Context, w *tarx.Writer, p *prepared) error {
	f, err := os.Open(h.path)
	if err != nil {
		if p.seen.done { // the cache key's stat found it
			err = goneErr(".", err)
		}
		return fmt.Errorf("opening file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("file %s: %w", h.path, err)
	}
	if err := regularHostFile(h.path, fi); err != nil {
		return err
	}
	if err := p.sawFile(fi, openFileSHA256(ctx, f, fi)); err != nil {
		return fmt.Errorf("file %s: %w", h.path, err)
	}
	hdr := modeHeader(h.dst, fi.Mode())
	hdr.Typeflag, hdr.Size = tar.TypeReg, fi.Size()
	e := tarx.Entry{Header: hdr, Source: h.path, Reopen: true, Open: func() (io.ReadCloser, error) {
		r := ctxio.Reader(ctx, io.NewSectionReader(f, 0, fi.Size()))
		return p.seen.racy.reader(newCheckedReader(r, f.Stat, fi), ".", fi.Size()), nil
	}}
	if _, err := place(w, p, e); err != nil {
		return fmt.Errorf("file %s: %w", h.path, err)
	}
	return nil
}

// tarxJoin joins a clean relative root and name.
func tarxJoin(root, name string) string {
	if root == "" {
		return name
	}
	return root + "/" + name
}

// fileKind names the type of a file that is not a regular file.
func fileKind(m fs.FileMode) string {
	switch t := m.Type(); {
	case t&fs.ModeDir != 0:
		return "a directory (use layer.Dir for a tree)"
	case t&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case t&fs.ModeSocket != 0:
		return "a socket"
	case t&fs.ModeDevice != 0:
		return "a device"
	}
	return fmt.Sprintf("a file of mode %v", m.Type())
}

package layer

import (
	"archive/tar"
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/stevedore-dev/stevedore/internal/cache"
	"github.com/stevedore-dev/stevedore/internal/ctxio"
	"github.com/stevedore-dev/stevedore/internal/tarx"
)

// hostFileOptions are the options HostFile takes.
var hostFileOptions = []string{"WithOwner", "WithModTime", "WithChmod"}

// hostFile is the kind of HostFile.
type hostFile struct {
	path string // host path, as given
	dst  string // clean relative name in the layer
}

// HostFile is one regular file of the host placed at dst, a slash path in
// the image (absolute, or relative to "/"), whatever its name on the host:
// `COPY app /bin/server`. The file is opened with os.Open, so a symlink is
// followed; anything but a regular file fails the build. Its permission
// bits (setuid, setgid and sticky included) are kept; its mtime and owner
// are replaced as for Dir (see WithModTime, WithOwner). Parent directories
// of dst are emitted as 0755 root-owned directories. With WithCache the
// file is keyed like a Tarball without WithSHA256: its absolute path, size,
// mtime, inode and ctime. Source options WithOwner, WithModTime and
// WithChmod apply.
func HostFile(path, dst string, opts ...Option) Source {
	c, ok := cleanRel(dst)
	s := newOwnSource(hostFile{path: path, dst: c}, "layer.HostFile", path, hostFileOptions, opts)
	if s.err == nil {
		switch {
		case path == "":
			s.err = fmt.Errorf("%w: layer.HostFile: empty path", ErrOption)
		case !ok || c == "":
			s.err = fmt.Errorf("%w: layer.HostFile(%q): invalid destination %q", ErrOption, path, dst)
		}
	}
	return Source{s}
}

func (h hostFile) describe(*source) string { return "file -> /" + h.dst }

func (h hostFile) key(_ context.Context, _ *source, k *cache.KeyBuilder, _ *prepared) (bool, error) {
	abs, err := filepath.Abs(h.path)
	if err != nil {
		return false, err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return false, fmt.Errorf("file: %w", err)
	}
	k.AddString("layer.HostFile").AddString(abs).AddString(h.dst)
	addStat(k, fi)
	return true, nil
}

func (h hostFile) write(ctx context.Context, _ *source, tw *tarx.Writer, p *prepared) error {
	f, err := os.Open(h.path)
	if err != nil {
		return fmt.Errorf("opening file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("file %s: %w", h.path, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("file %s: %w: %v is not a regular file", h.path, ErrUnsupportedEntry, fi.Mode().Type())
	}
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: h.dst, Mode: tarMode(fi.Mode()), Size: fi.Size()}
	if _, err := place(tw, p, hdr, ctxio.Reader(ctx, f)); err != nil {
		return fmt.Errorf("file %s: %w", h.path, err)
	}
	return nil
}

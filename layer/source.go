package layer

import (
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"path/filepath"
	"strings"
	"time"
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

// Source is one input of a layer built with New. Make one with Dir,
// Tarball, URL, FS, Files, Deletions or Opaque. The zero Source is invalid.
type Source struct {
	s *source
}

type sourceKind int

const (
	kindDir sourceKind = iota + 1
	kindTarball
	kindURL
	kindFS
	kindFiles
	kindDeletions
	kindOwn // a kind with its own type: see kindImpl
)

func (k sourceKind) String() string {
	return [...]string{"", "layer.Dir", "layer.Tarball", "layer.URL", "layer.FS", "layer.Files", "layer.Deletions", "layer.kindImpl"}[k]
}

// Options allowed per source kind.
var (
	treeOptions    = []string{"WithRoot", "WithStripComponents", "WithOnly", "WithInclude", "WithExclude", "WithIgnoreFile", "WithOwner", "WithModTime", "WithChmod", "WithMatchPrefix"}
	tarballOptions = append(append([]string{}, treeOptions...), "WithPreserveOwner", "WithSHA256", "WithSizeLimit")
	urlOptions     = append(append([]string{}, tarballOptions...), "WithHTTPClient")
)

type source struct {
	kind   sourceKind
	name   string // dir path, tarball path or URL
	fsys   fs.FS
	files  []File
	paths  []string // Deletions: clean relative paths
	opaque bool     // Deletions: opaque-directory markers
	impl   kindImpl // kindOwn: the kind's own type
	opts   *options
	err    error // reported by New
}

func newSource(kind sourceKind, name string, opts []Option) *source {
	s := &source{kind: kind, name: name}
	o, err := applyOptions(opts)
	if err != nil {
		s.err = fmt.Errorf("%s(%q): %w", kind, name, err)
		return s
	}
	s.opts = o
	allowed := treeOptions
	switch kind {
	case kindTarball:
		allowed = tarballOptions
	case kindURL:
		allowed = urlOptions
	case kindDeletions:
		allowed = nil
	}
	if err := o.checkScope(kind.String(), allowed); err != nil {
		s.err = err
		return s
	}
	if o.ownerSet && o.preserveOwner {
		s.err = fmt.Errorf("%w: WithOwner and WithPreserveOwner exclude each other", ErrOption)
	}
	return s
}

// Dir is a local directory source: a sorted walk confined to dir (through
// os.Root, so nothing outside it is opened), with symlinks kept as
// symlinks, hardlinks as hardlinks, empty directories, modes including
// setuid, setgid and sticky bits, FIFOs and device nodes. Sockets are
// skipped (tar cannot hold them). Host mtimes and owners are replaced (see
// WithModTime, WithOwner). Source options apply.
func Dir(dir string, opts ...Option) Source {
	s := newSource(kindDir, dir, opts)
	if s.err == nil && dir == "" {
		s.err = fmt.Errorf("%w: layer.Dir: empty directory name", ErrOption)
	}
	return Source{s}
}

// Tarball is a tar archive on disk, plain, gzip, zstd, bzip2 or xz
// compressed as detected from its first bytes (not its name); lz4, zip and
// others are an error wrapping ErrUnsupportedCompression, and input that is not a tar
// (or is empty) one wrapping ErrNotTar. The whole input is read: bytes after
// the tar footer are ignored as tar does, concatenated gzip members and
// zero padding after gzip are accepted, any other trailing bytes after
// compressed data, a checksum mismatch or a stream cut short are errors.
// Entries keep their mtimes unless WithModTime is given. Source options
// apply, plus WithSHA256, WithSizeLimit and WithPreserveOwner.
func Tarball(path string, opts ...Option) Source {
	s := newSource(kindTarball, path, opts)
	if s.err == nil && path == "" {
		s.err = fmt.Errorf("%w: layer.Tarball: empty path", ErrOption)
	}
	return Source{s}
}

// URL is a tar archive downloaded over HTTP(S) with a GET, streamed (never
// held in memory) and detected like Tarball. The context of New bounds the
// download. Source options apply, plus WithSHA256, WithSizeLimit,
// WithPreserveOwner and WithHTTPClient.
func URL(rawURL string, opts ...Option) Source {
	s := newSource(kindURL, rawURL, opts)
	if s.err == nil {
		u, err := url.Parse(rawURL)
		switch {
		case err != nil:
			s.err = fmt.Errorf("%w: layer.URL: %w", ErrOption, err)
		case u.Scheme != "http" && u.Scheme != "https":
			s.err = fmt.Errorf("%w: layer.URL(%q): scheme must be http or https", ErrOption, u.Redacted())
		default:
			s.name = u.String()
		}
	}
	return Source{s}
}

// FS is an io/fs source (embed.FS, fstest.MapFS, os.DirFS, ...), walked in
// sorted order from ".". Symlinks are kept when fsys implements
// fs.ReadLinkFS; a symlink in an FS that does not is an error. Modes are
// those the FS reports; mtimes are replaced. Source options apply.
func FS(fsys fs.FS, opts ...Option) Source {
	s := newSource(kindFS, "", opts)
	if s.err == nil && fsys == nil {
		s.err = fmt.Errorf("%w: layer.FS: nil fs.FS", ErrOption)
	}
	s.fsys = fsys
	return Source{s}
}

// Files is an in-memory source. Files are written sorted by path (stable,
// so of two files with the same path the later in the slice wins); the
// slice is copied, Data is not. Source options apply.
func Files(files []File, opts ...Option) Source {
	s := newSource(kindFiles, "", opts)
	s.files = append([]File(nil), files...)
	if s.err == nil {
		for _, f := range s.files {
			if p, ok := cleanRel(f.Path); !ok || p == "" {
				s.err = fmt.Errorf("%w: layer.Files: invalid path %q", ErrOption, f.Path)
				break
			}
			if f.Mode&fs.ModeSymlink != 0 && f.Linkname == "" {
				s.err = fmt.Errorf("%w: layer.Files: symlink %q has no Linkname", ErrOption, f.Path)
				break
			}
			if f.Mode&(fs.ModeNamedPipe|fs.ModeSocket|fs.ModeDevice|fs.ModeCharDevice|fs.ModeIrregular) != 0 {
				s.err = fmt.Errorf("%w: layer.Files: %q: unsupported mode %v", ErrOption, f.Path, f.Mode)
				break
			}
		}
	}
	return Source{s}
}

// Deletions is a source of OCI whiteouts: each path (absolute or relative
// to the image root) is deleted from the layers below. Parent directories
// of whiteouts are not emitted, so the lower layers' directory metadata
// (say /tmp's 1777) is kept.
func Deletions(paths ...string) Source {
	return Source{deletions(paths, false)}
}

// Opaque is a source of OCI opaque-directory markers: each directory keeps
// what this layer puts in it and hides everything the layers below hold
// there. The directory itself is emitted (0755) when no other source of the
// layer places it.
func Opaque(dirs ...string) Source {
	return Source{deletions(dirs, true)}
}

func deletions(paths []string, opaque bool) *source {
	s := &source{kind: kindDeletions, opaque: opaque, opts: &options{}}
	if len(paths) == 0 {
		s.err = fmt.Errorf("%w: layer.Deletions: no paths", ErrOption)
	}
	for _, p := range paths {
		c, ok := cleanRel(p)
		if !ok || c == "" {
			s.err = fmt.Errorf("%w: layer.Deletions: invalid path %q", ErrOption, p)
			break
		}
		if strings.HasPrefix(path.Base(c), ".wh.") {
			s.err = fmt.Errorf("%w: layer.Deletions: %q is itself a whiteout name", ErrOption, p)
			break
		}
		s.paths = append(s.paths, c)
	}
	return s
}

// describe returns the CreatedBy fragment of the source.
func (s *source) describe() string {
	root := "/" + s.opts.root
	switch s.kind {
	case kindDir:
		// An absolute host path would differ between machines and would
		// make the image digest depend on where the source happened to
		// be checked out (and leak host paths into the history): only its
		// last element is kept. A relative path is kept as given.
		name := filepath.ToSlash(s.name)
		if filepath.IsAbs(s.name) {
			name = filepath.Base(s.name)
		}
		return fmt.Sprintf("dir %s -> %s", name, root)
	case kindTarball:
		return fmt.Sprintf("tarball %s -> %s", filepath.Base(s.name), root)
	case kindURL:
		u, err := url.Parse(s.name)
		if err == nil {
			// User info and the query often carry credentials (pre-signed
			// URLs): neither belongs in an image's history.
			u.User, u.RawQuery, u.ForceQuery, u.Fragment = nil, "", false, ""
			return fmt.Sprintf("url %s -> %s", u, root)
		}
		return "url -> " + root
	case kindFS:
		return "fs -> " + root
	case kindFiles:
		return fmt.Sprintf("files %d -> %s", len(s.files), root)
	case kindDeletions:
		verb := "delete"
		if s.opaque {
			verb = "opaque"
		}
		return verb + " /" + strings.Join(s.paths, " /")
	case kindOwn:
		return s.impl.describe(s)
	}
	return "?"
}

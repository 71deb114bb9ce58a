package layer

import (
	"encoding/hex"
	"fmt"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/stevedore-dev/stevedore/internal/tarx"
)

// Option configures a layer or one of its sources.
//
// Source options (path rewriting, filters, owner, mtime, verification) apply
// to one Source: pass them to Dir, Tarball, URL, FS or Files, or to the
// matching From* shorthand. Layer options (compression, level, media type,
// cache, temp dir, concurrency) apply to the whole layer: pass them to New
// or to a From* shorthand. A layer option given to a Source, or a source
// option given to New, is an error wrapping ErrOption that names the option,
// so a misplaced option is never silently ignored. Each option's doc says
// which kind it is.
type Option func(*options) error

// Compression selects the compression of a layer's blob.
type Compression int

// Compressions. The zero value means "not set" and yields Gzip unless a
// media type implies otherwise.
const (
	Gzip Compression = iota + 1
	Zstd
	Uncompressed
)

// String returns "gzip", "zstd" or "uncompressed".
func (c Compression) String() string {
	switch c {
	case Gzip:
		return "gzip"
	case Zstd:
		return "zstd"
	case Uncompressed:
		return "uncompressed"
	}
	return fmt.Sprintf("Compression(%d)", int(c))
}

// filterRule is one WithInclude, WithExclude or WithIgnoreFile, in the
// order given.
type filterRule struct {
	include  bool
	patterns []string
	file     string // WithIgnoreFile: read lazily
}

type options struct {
	given []string // option names, in order, for scope checks

	// Source options.
	root          string // clean, relative, "" for the layer root
	strip         int
	only          []string // clean, relative
	filters       []filterRule
	uid, gid      int
	ownerSet      bool
	preserveOwner bool
	modTime       time.Time
	modTimeSet    bool
	sha256        string // lowercase hex
	chmod         *modeSpec
	matchPrefix   string
	httpClient    *http.Client
	sizeLimit     int64 // 0: none

	// Layer options.
	compression Compression
	level       int
	levelSet    bool
	cacheDir    string
	mediaType   types.MediaType
	tempDir     string
	concurrency int
}

// Option scopes.
var (
	sourceOptionNames = []string{"WithRoot", "WithStripComponents", "WithOnly",
		"WithInclude", "WithExclude", "WithIgnoreFile", "WithOwner",
		"WithPreserveOwner", "WithModTime", "WithSHA256", "WithHTTPClient",
		"WithSizeLimit", "WithChmod", "WithMatchPrefix"}
	layerOptionNames = []string{"WithCompression", "WithLevel", "WithCache",
		"WithMediaType", "WithTempDir", "WithConcurrency"}
)

func (o *options) mark(name string) {
	if !slices.Contains(o.given, name) {
		o.given = append(o.given, name)
	}
}

func optErr(name, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrOption, name, fmt.Sprintf(format, args...))
}

// cleanRel turns a slash path, absolute or relative, into a clean relative
// one ("" for the root). It reports false when p leaves the root.
func cleanRel(p string) (string, bool) {
	p = path.Clean("/" + strings.ReplaceAll(p, "\\", "/"))
	if strings.Contains(p, "\x00") {
		return "", false
	}
	return strings.TrimPrefix(p, "/"), true
}

// WithRoot places the source's entries under dst, a slash-separated
// directory in the image ("/usr/local"; a relative dst is taken from "/").
// Parent directories of dst are emitted as 0755 root-owned directories.
// Source option. The default is "/".
func WithRoot(dst string) Option {
	return func(o *options) error {
		o.mark("WithRoot")
		if dst == "" {
			return optErr("WithRoot", "empty root")
		}
		if strings.Contains(dst, "\x00") {
			return optErr("WithRoot", "root %q contains NUL", dst)
		}
		r, _ := cleanRel(dst)
		o.root = r
		return nil
	}
}

// WithStripComponents removes the first n path components from every entry
// name before filters and WithRoot apply, like tar's --strip-components;
// entries with n or fewer components (the stripped directories themselves)
// are left out. Names are cleaned first, so "./go/bin" has two components.
// Source option. The default is 0.
func WithStripComponents(n int) Option {
	return func(o *options) error {
		o.mark("WithStripComponents")
		if n < 0 {
			return optErr("WithStripComponents", "negative count %d", n)
		}
		o.strip = n
		return nil
	}
}

// WithOnly keeps only the entries named (after WithStripComponents) and,
// for directories, everything under them; for example WithOnly("ko") takes
// just the ko binary out of its release tarball. Names are exact paths, not
// patterns. Several WithOnly calls add names. Source option. The default is
// to keep every entry.
func WithOnly(names ...string) Option {
	return func(o *options) error {
		o.mark("WithOnly")
		if len(names) == 0 {
			return optErr("WithOnly", "no names")
		}
		for _, n := range names {
			c, ok := cleanRel(n)
			if !ok || c == "" {
				return optErr("WithOnly", "invalid name %q", n)
			}
			o.only = append(o.only, c)
		}
		return nil
	}
}

// WithInclude keeps only entries matching at least one of the patterns
// (or lying under a directory that matches), with .dockerignore syntax
// (github.com/moby/patternmatcher: "*", "?", "**", "!" to re-exclude).
// Patterns are matched against the slash path relative to the source
// (after WithStripComponents). Directories that cannot hold a match are not
// walked at all. Source option. The default is to include everything.
func WithInclude(patterns ...string) Option {
	return func(o *options) error {
		o.mark("WithInclude")
		if err := checkPatterns("WithInclude", patterns); err != nil {
			return err
		}
		o.filters = append(o.filters, filterRule{include: true, patterns: slices.Clone(patterns)})
		return nil
	}
}

// WithExclude leaves out entries matching the patterns, with .dockerignore
// semantics: the last matching pattern decides, "!" re-includes, "**"
// matches any number of directories, and an excluded directory excludes
// everything under it. Excluded directories are not walked unless a "!"
// pattern could re-include something under them. WithExclude and
// WithIgnoreFile rules form one list in the order given. Source option. The
// default is to exclude nothing.
func WithExclude(patterns ...string) Option {
	return func(o *options) error {
		o.mark("WithExclude")
		if err := checkPatterns("WithExclude", patterns); err != nil {
			return err
		}
		o.filters = append(o.filters, filterRule{patterns: slices.Clone(patterns)})
		return nil
	}
}

// WithIgnoreFile reads exclude patterns from a .dockerignore-style file on
// the host (path as for os.Open, not relative to the source). The file is
// read when the layer is built, not when the option is applied; a missing
// file is an error. A pattern docker build refuses (a lone "!", an escape
// such as `\1` that makes no pattern) fails the build with an error
// wrapping ErrOption that names the file. Source option. The default is no
// ignore file.
func WithIgnoreFile(path string) Option {
	return func(o *options) error {
		o.mark("WithIgnoreFile")
		if path == "" {
			return optErr("WithIgnoreFile", "empty path")
		}
		o.filters = append(o.filters, filterRule{file: path})
		return nil
	}
}

// WithOwner sets the uid and gid of every entry of the source (parent
// directories synthesized above WithRoot stay root-owned). User and group
// names are never written. Source option. The default is 0:0.
func WithOwner(uid, gid int) Option {
	return func(o *options) error {
		o.mark("WithOwner")
		if uid < 0 || gid < 0 || uid > 1<<31-1 || gid > 1<<31-1 {
			return optErr("WithOwner", "invalid owner %d:%d", uid, gid)
		}
		o.uid, o.gid, o.ownerSet = uid, gid, true
		return nil
	}
}

// WithPreserveOwner keeps the uid and gid recorded in a tarball source
// (names are still dropped). It cannot be combined with WithOwner. Source
// option for Tarball and URL. The default is to reset ownership to 0:0.
func WithPreserveOwner() Option {
	return func(o *options) error {
		o.mark("WithPreserveOwner")
		o.preserveOwner = true
		return nil
	}
}

// WithModTime sets the modification time of every entry of the source
// (truncated to whole seconds). Source option. The default is the time in
// $SOURCE_DATE_EPOCH, else the Unix epoch; tarball sources keep their own
// mtimes unless WithModTime is given.
func WithModTime(t time.Time) Option {
	return func(o *options) error {
		o.mark("WithModTime")
		if t.IsZero() {
			return optErr("WithModTime", "zero time")
		}
		if t.Unix() < 0 {
			return optErr("WithModTime", "time %s before the Unix epoch", t)
		}
		o.modTime, o.modTimeSet = t.Truncate(time.Second).UTC(), true
		return nil
	}
}

// WithSHA256 verifies the sha256 of a downloaded (URL) or local (Tarball)
// file, as it is read: a mismatch fails the build with an error wrapping
// ErrDigestMismatch that names the URL or path and both digests. With
// WithCache, a URL with a known sha256 is downloaded at most once. hexSum is
// 64 hex digits, optionally prefixed with "sha256:". Source option for
// Tarball and URL. The default is no verification.
func WithSHA256(hexSum string) Option {
	return func(o *options) error {
		o.mark("WithSHA256")
		h := strings.ToLower(strings.TrimPrefix(hexSum, "sha256:"))
		if b, err := hex.DecodeString(h); err != nil || len(b) != 32 {
			return optErr("WithSHA256", "%q is not a sha256 in hex", hexSum)
		}
		o.sha256 = h
		return nil
	}
}

// WithHTTPClient sets the client used to download a URL source. Source
// option for URL. The default is http.DefaultClient.
func WithHTTPClient(c *http.Client) Option {
	return func(o *options) error {
		o.mark("WithHTTPClient")
		if c == nil {
			return optErr("WithHTTPClient", "nil client")
		}
		o.httpClient = c
		return nil
	}
}

// WithSizeLimit bounds the uncompressed size in bytes of a tarball or URL
// source (the decompressed tar stream, all headers and contents included),
// against decompression bombs: passing it is an error wrapping ErrSizeLimit.
// Source option for Tarball and URL. The default is no limit.
func WithSizeLimit(n int64) Option {
	return func(o *options) error {
		o.mark("WithSizeLimit")
		if n <= 0 {
			return optErr("WithSizeLimit", "limit %d is not positive", n)
		}
		o.sizeLimit = n
		return nil
	}
}

// WithCompression selects the blob compression: Gzip, Zstd or
// Uncompressed. Layer option. The default is Gzip (or what WithMediaType
// implies).
func WithCompression(c Compression) Option {
	return func(o *options) error {
		o.mark("WithCompression")
		switch c {
		case Gzip, Zstd, Uncompressed:
		default:
			return optErr("WithCompression", "unknown compression %v", c)
		}
		o.compression = c
		return nil
	}
}

// WithLevel sets the compression level: 1 (fastest) to 9 for gzip, 1 to 22
// for zstd (mapped to the klauspost encoder levels as zstd does). It is an
// error with Uncompressed. Layer option. The default is 1 for gzip (as
// go-containerregistry's tarball package) and 3 for zstd.
func WithLevel(n int) Option {
	return func(o *options) error {
		o.mark("WithLevel")
		if n < 1 || n > 22 {
			return optErr("WithLevel", "level %d out of range 1..22", n)
		}
		o.level, o.levelSet = n, true
		return nil
	}
}

// WithCache keeps built layers in a cache directory (created if needed;
// see internal/cache: atomic, shared safely between processes) keyed by a
// hash of the options that affect the bytes and of the inputs:
//
//   - a directory: the sorted list of (path, size, mtime, mode, inode,
//     ctime, link target) from a stat walk with the filters applied;
//   - a tarball: its absolute path, size, mtime, inode and ctime, or its
//     WithSHA256 when given;
//   - a URL: its WithSHA256, so a hit downloads nothing; a URL without
//     WithSHA256 is not cached (the layer is built into a temp file);
//   - Files and fs.FS sources: their paths, modes and contents (read, not
//     compressed).
//
// On a hit no tar is written and nothing is compressed. A hit's blob is
// re-hashed once before its bytes are first served; a corrupt entry is
// rebuilt, never served. A source changed between the key's walk and the
// build is not detected. Layer option. The default is no cache: each layer
// spools to a temp file.
func WithCache(dir string) Option {
	return func(o *options) error {
		o.mark("WithCache")
		if dir == "" {
			return optErr("WithCache", "empty directory")
		}
		o.cacheDir = dir
		return nil
	}
}

// WithMediaType sets the media type the layer reports: one of the OCI layer
// types (types.OCILayer, types.OCILayerZStd, types.OCIUncompressedLayer) or
// the Docker ones (types.DockerLayer, types.DockerUncompressedLayer). It
// implies the compression when WithCompression is not given, and must match
// it when it is (zstd has no Docker media type). Layer option. The default
// is the OCI type of the compression.
func WithMediaType(mt types.MediaType) Option {
	return func(o *options) error {
		o.mark("WithMediaType")
		if _, ok := mediaTypeCompression[mt]; !ok {
			return optErr("WithMediaType", "%q is not a layer media type this package writes", mt)
		}
		o.mediaType = mt
		return nil
	}
}

// WithTempDir sets the directory of the spool files that hold built layers
// when no cache is used. Layer option. The default is os.TempDir().
func WithTempDir(dir string) Option {
	return func(o *options) error {
		o.mark("WithTempDir")
		if dir == "" {
			return optErr("WithTempDir", "empty directory")
		}
		o.tempDir = dir
		return nil
	}
}

// WithConcurrency sets how many goroutines compress in parallel. The
// output bytes do not depend on it (gzip is cut into fixed 256 KiB blocks).
// Layer option. The default is runtime.GOMAXPROCS(0).
func WithConcurrency(n int) Option {
	return func(o *options) error {
		o.mark("WithConcurrency")
		if n < 1 {
			return optErr("WithConcurrency", "%d is not positive", n)
		}
		o.concurrency = n
		return nil
	}
}

var mediaTypeCompression = map[types.MediaType]Compression{
	types.OCILayer:                Gzip,
	types.OCILayerZStd:            Zstd,
	types.OCIUncompressedLayer:    Uncompressed,
	types.DockerLayer:             Gzip,
	types.DockerUncompressedLayer: Uncompressed,
}

func checkPatterns(name string, patterns []string) error {
	if len(patterns) == 0 {
		return optErr(name, "no patterns")
	}
	for _, p := range patterns {
		if strings.TrimSpace(strings.TrimPrefix(p, "!")) == "" {
			return optErr(name, "empty pattern %q", p)
		}
		if _, err := path.Match(strings.ReplaceAll(strings.TrimPrefix(p, "!"), "**", "*"), ""); err != nil {
			return optErr(name, "bad pattern %q: %v", p, err)
		}
		if _, err := tarx.NewFilter(nil, []string{p}); err != nil {
			return optErr(name, "%v", err)
		}
	}
	return nil
}

// applyOptions applies opts to a fresh options value.
func applyOptions(opts []Option) (*options, error) {
	o := &options{}
	for _, opt := range opts {
		if opt == nil {
			return nil, fmt.Errorf("%w: nil Option", ErrOption)
		}
		if err := opt(o); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// checkScope reports options in o that are not in allowed, naming where
// they belong.
func (o *options) checkScope(where string, allowed []string) error {
	for _, n := range o.given {
		if slices.Contains(allowed, n) {
			continue
		}
		switch {
		case slices.Contains(layerOptionNames, n):
			return fmt.Errorf("%w: %s is a layer option; pass it to layer.New, not to %s", ErrOption, n, where)
		case slices.Contains(sourceOptionNames, n) && where == "layer.New":
			return fmt.Errorf("%w: %s is a source option; pass it to the Source (layer.Dir, layer.Tarball, ...), not to layer.New", ErrOption, n)
		default:
			return fmt.Errorf("%w: %s does not apply to %s", ErrOption, n, where)
		}
	}
	return nil
}

// split divides options given to a From* shorthand into the source part
// and the layer part.
func (o *options) split() (src, lay *options) {
	s, l := *o, *o
	s.given, l.given = nil, nil
	for _, n := range o.given {
		if slices.Contains(layerOptionNames, n) {
			l.given = append(l.given, n)
		} else {
			s.given = append(s.given, n)
		}
	}
	return &s, &l
}

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

	"github.com/stevedore-dev/stevedore/internal/compress"
	"github.com/stevedore-dev/stevedore/internal/lazypull"
	"github.com/stevedore-dev/stevedore/internal/mediatype"
	"github.com/stevedore-dev/stevedore/internal/option"
	"github.com/stevedore-dev/stevedore/internal/tarx"
)

// Option is what the From* shorthands take: any SourceOption or
// LayerOption. Nil options are ignored.
type Option interface {
	applyFrom(*sourceOptions, *layerOptions) error
}

// SourceOption configures one Source: where its entries go (WithRoot,
// WithStripComponents), which it keeps (WithOnly, WithInclude,
// WithExclude, WithIgnoreFile), their owner and time, and how a tarball
// or a download is checked. Pass it to Dir, Tarball, URL, FS or Files, or
// to a From* shorthand. A few apply to some kinds only (each says which);
// given to another kind they are an error wrapping ErrInvalidOption.
type SourceOption func(*sourceOptions) error

// LayerOption configures a whole layer: compression, level, media type,
// cache, temp dir, concurrency. Pass it to New or to a From* shorthand.
type LayerOption func(*layerOptions) error

func (f SourceOption) applyFrom(s *sourceOptions, _ *layerOptions) error { return f(s) }
func (f LayerOption) applyFrom(_ *sourceOptions, l *layerOptions) error  { return f(l) }

// Compression selects the compression of a layer's blob.
type Compression int

// Compressions. The zero value means "not set" and yields Gzip unless a
// media type implies otherwise.
const (
	Gzip Compression = iota + 1
	Zstd
	Uncompressed
	// EStargz is eStargz: a gzip blob that every client pulls as a gzip
	// layer (media type application/vnd.oci.image.layer.v1.tar+gzip),
	// and that containerd's stargz snapshotter pulls lazily, file by
	// file, from the table of contents it ends with. See the package
	// documentation.
	EStargz
	// ZstdChunked is zstd:chunked: a zstd blob (media type
	// application/vnd.oci.image.layer.v1.tar+zstd) with a table of
	// contents, which the stargz snapshotter pulls lazily. See the package
	// documentation.
	ZstdChunked
)

// String returns "gzip", "zstd", "uncompressed", "estargz" or
// "zstd:chunked".
func (c Compression) String() string {
	if f, ok := lazyFormat[c]; ok {
		return f.String()
	}
	if f, ok := compressionFormat[c]; ok {
		return f.String()
	}
	return fmt.Sprintf("Compression(%d)", int(c))
}

var compressionFormat = map[Compression]compress.Format{
	Gzip: compress.Gzip, Zstd: compress.Zstd, Uncompressed: compress.None,
}

// lazyFormat maps the lazily pullable compressions to their format.
var lazyFormat = map[Compression]lazypull.Format{
	EStargz: lazypull.EStargz, ZstdChunked: lazypull.ZstdChunked,
}

// blobFormat is the compression other clients see in c's blobs: an
// eStargz blob is a gzip stream, a zstd:chunked one a zstd stream.
func (c Compression) blobFormat() compress.Format {
	if f, ok := lazyFormat[c]; ok {
		return f.Compression()
	}
	return compressionFormat[c]
}

// filterRule is one WithInclude, WithExclude or WithIgnoreFile, in the
// order given.
type filterRule struct {
	include  bool
	patterns []string
	file     string // WithIgnoreFile: read when the layer is built
}

// sourceKinds is a set of source kinds, for options that apply to some.
type sourceKinds uint8

const (
	kindDir sourceKinds = 1 << iota
	kindTarball
	kindURL
	kindFS
	kindFiles
	kindHostFile
	kindURLFile
	kindsArchive  = kindTarball | kindURL
	kindsDownload = kindURL | kindURLFile
)

type sourceOptions struct {
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
	httpClient    *http.Client
	sizeLimit     int64 // 0: none
	chmod         *modeSpec
	matchPrefix   string
	// limited names the options that apply to some kinds only.
	limited []limitedOption
}

type limitedOption struct {
	name  string
	kinds sourceKinds
}

func (o *sourceOptions) limit(name string, kinds sourceKinds) {
	o.limited = append(o.limited, limitedOption{name, kinds})
}

// check reports an option that does not apply to kind.
func (o *sourceOptions) check(kind sourceKinds, what string) error {
	for _, l := range o.limited {
		if l.kinds&kind == 0 {
			return fmt.Errorf("%w: %s does not apply to %s", ErrInvalidOption, l.name, what)
		}
	}
	if o.ownerSet && o.preserveOwner {
		return fmt.Errorf("%w: WithOwner and WithPreserveOwner exclude each other", ErrInvalidOption)
	}
	return nil
}

type layerOptions struct {
	compression Compression
	level       int
	levelSet    bool
	cacheDir    string
	share       cacheShare
	mediaType   types.MediaType
	tempDir     string
	concurrency int
	prioritized []string // clean, relative
}

func optErr(name, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidOption, name, fmt.Sprintf(format, args...))
}

// cleanRel turns a slash path, absolute or relative, into a clean relative
// one ("" for the root). It reports false when p holds a NUL.
func cleanRel(p string) (string, bool) {
	p = path.Clean("/" + strings.ReplaceAll(p, "\\", "/"))
	if strings.Contains(p, "\x00") {
		return "", false
	}
	return strings.TrimPrefix(p, "/"), true
}

// cleanNames cleans each of names with cleanRel for the option or
// constructor opt, failing when there are none or one is the root or
// holds a NUL; noun ("name", "path") is what the errors call them.
func cleanNames(opt, noun string, names []string) ([]string, error) {
	if len(names) == 0 {
		return nil, optErr(opt, "no %ss", noun)
	}
	out := make([]string, 0, len(names))
	for _, n := range names {
		c, ok := cleanRel(n)
		if !ok || c == "" {
			return nil, optErr(opt, "invalid %s %q", noun, n)
		}
		out = append(out, c)
	}
	return out, nil
}

// WithRoot places the source's entries under dst, a slash-separated
// directory in the image ("/usr/local"; a relative dst is taken from "/").
// Parents of dst that the layer needs are emitted as 0755 root-owned
// directories, unless the image the layer lands on has them (see
// Placement). The default is "/".
func WithRoot(dst string) SourceOption {
	return func(o *sourceOptions) error {
		if dst == "" {
			return optErr("WithRoot", "empty root")
		}
		if strings.Contains(dst, "\x00") {
			return optErr("WithRoot", "root %q contains NUL", dst)
		}
		o.root, _ = cleanRel(dst)
		return nil
	}
}

// WithStripComponents removes the first n path components from every entry
// name before filters and WithRoot apply, like tar's --strip-components;
// entries with n or fewer components (the stripped directories themselves)
// are left out. Names are cleaned first, so "./go/bin" has two components.
// The default is 0.
func WithStripComponents(n int) SourceOption {
	return func(o *sourceOptions) error {
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
// patterns. Several WithOnly calls add names. A name that matches no entry
// fails the build with an error wrapping ErrNoMatch that names it. The
// default is to keep every entry.
func WithOnly(names ...string) SourceOption {
	return func(o *sourceOptions) error {
		only, err := cleanNames("WithOnly", "name", names)
		o.only = append(o.only, only...)
		return err
	}
}

// WithInclude keeps only entries matching at least one of the patterns
// (or lying under a directory that matches), with .dockerignore syntax
// (github.com/moby/patternmatcher: "*", "?", "**", "!" to re-exclude).
// Patterns are matched against the slash path relative to the source
// (after WithStripComponents). Directories that cannot hold a match are not
// walked at all; one of a Dir or FS source that holds a match is written
// as the source has it. A pattern (other than a "!" one) that matches no entry
// fails the build with an error wrapping ErrNoMatch that names it. The
// default is to include everything.
func WithInclude(patterns ...string) SourceOption {
	return func(o *sourceOptions) error {
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
// pattern could re-include something under them; a directory of a Dir
// or FS source under which an entry is re-included is written as the
// source has it (mode, and WithOwner), as docker build's context holds
// it. WithExclude and
// WithIgnoreFile rules form one list in the order given. The default is
// to exclude nothing.
func WithExclude(patterns ...string) SourceOption {
	return func(o *sourceOptions) error {
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
// wrapping ErrInvalidOption that names the file. The default is no ignore
// file.
func WithIgnoreFile(path string) SourceOption {
	return func(o *sourceOptions) error {
		if path == "" {
			return optErr("WithIgnoreFile", "empty path")
		}
		o.filters = append(o.filters, filterRule{file: path})
		return nil
	}
}

// WithOwner sets the uid and gid of every entry of the source (parent
// directories synthesized above WithRoot stay root-owned). User and group
// names are never written. The default is 0:0.
func WithOwner(uid, gid int) SourceOption {
	return func(o *sourceOptions) error {
		if uid < 0 || gid < 0 || uid > 1<<31-1 || gid > 1<<31-1 {
			return optErr("WithOwner", "invalid owner %d:%d", uid, gid)
		}
		o.uid, o.gid, o.ownerSet = uid, gid, true
		return nil
	}
}

// WithPreserveOwner keeps the uid and gid recorded in a tarball source
// (names are still dropped). It cannot be combined with WithOwner. Tarball
// and URL sources only. The default is to reset ownership to 0:0.
func WithPreserveOwner() SourceOption {
	return func(o *sourceOptions) error {
		o.limit("WithPreserveOwner", kindsArchive)
		o.preserveOwner = true
		return nil
	}
}

// WithModTime sets the modification time of every entry of the source
// (truncated to whole seconds). The default is the time in
// $SOURCE_DATE_EPOCH, else the Unix epoch; tarball sources keep their own
// mtimes unless WithModTime is given.
func WithModTime(t time.Time) SourceOption {
	return func(o *sourceOptions) error {
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

// WithSHA256 verifies the sha256 of a downloaded (URL, URLFile) or local
// (Tarball) file, as it is read: a mismatch fails the build with an error wrapping
// ErrDigestMismatch that names the URL or path and both digests. With
// WithCache, a URL with a known sha256 is downloaded at most once. hexSum is
// 64 hex digits, optionally prefixed with "sha256:". Tarball, URL and
// URLFile sources only. The default is no verification.
func WithSHA256(hexSum string) SourceOption {
	return func(o *sourceOptions) error {
		h := strings.ToLower(strings.TrimPrefix(hexSum, "sha256:"))
		if b, err := hex.DecodeString(h); err != nil || len(b) != 32 {
			return optErr("WithSHA256", "%q is not a sha256 in hex", hexSum)
		}
		o.limit("WithSHA256", kindsArchive|kindURLFile)
		o.sha256 = h
		return nil
	}
}

// WithHTTPClient sets the client used to download a URL or URLFile
// source. URL and URLFile sources only. The default is
// http.DefaultClient.
func WithHTTPClient(c *http.Client) SourceOption {
	return func(o *sourceOptions) error {
		if c == nil {
			return optErr("WithHTTPClient", "nil client")
		}
		o.limit("WithHTTPClient", kindsDownload)
		o.httpClient = c
		return nil
	}
}

// WithSizeLimit bounds the uncompressed size in bytes of a tarball or URL
// source (the decompressed tar stream, all headers and contents included),
// against decompression bombs, or of a URLFile download: passing it is an
// error wrapping ErrSizeLimit. Tarball, URL and URLFile sources only. The
// default is no limit.
func WithSizeLimit(n int64) SourceOption {
	return func(o *sourceOptions) error {
		if n <= 0 {
			return optErr("WithSizeLimit", "limit %d is not positive", n)
		}
		o.limit("WithSizeLimit", kindsArchive|kindURLFile)
		o.sizeLimit = n
		return nil
	}
}

// WithCompression selects the blob format: Gzip, Zstd, Uncompressed,
// or one of the lazily pullable formats EStargz and ZstdChunked (see the
// package documentation for what they cost and change). The default is
// Gzip (or what WithMediaType implies).
func WithCompression(c Compression) LayerOption {
	return func(o *layerOptions) error {
		if _, ok := compressionFormat[c]; !ok && lazyFormat[c] == 0 {
			return optErr("WithCompression", "unknown compression %v", c)
		}
		o.compression = c
		return nil
	}
}

// WithLevel sets the compression level: 1 (fastest) to 9 for gzip and
// EStargz, 1 to 22 for zstd and ZstdChunked (mapped to the klauspost
// encoder levels as zstd does). It is an error with Uncompressed. The
// default is 1 for gzip and EStargz (as go-containerregistry's tarball
// package) and 3 for zstd and ZstdChunked.
func WithLevel(n int) LayerOption {
	return func(o *layerOptions) error {
		if n < 1 || n > 22 {
			return optErr("WithLevel", "level %d out of range 1..22", n)
		}
		o.level, o.levelSet = n, true
		return nil
	}
}

// WithCache keeps built layers in a cache directory (created if needed,
// shared safely between processes) keyed by content: a hash of the
// options that affect the bytes, of the tree the layer lands on (see
// Placement), and of the inputs' content:
//
//   - a directory: each kept entry's relative path, type, mode, link
//     target and, for a regular file, the sha256 of its content (the
//     owner and times are those of the options);
//   - a tarball: its sha256 (its WithSHA256 when given);
//   - a URL: its WithSHA256, so a hit downloads nothing; a URL without
//     WithSHA256 is not cached (the layer is built into a temp file);
//   - Files and fs.FS sources: their paths, modes and contents.
//
// Host paths, inode numbers and file times never enter a key, so a fresh
// clone of the same sources on another machine has the same keys (see
// WithRemoteCache). Reading every file to hash it is only needed once: the
// cache also maps a stat walk of a directory (names, sizes, mtimes,
// inodes, ctimes) or a stat of a tarball to the content hash it gave, so
// an unchanged tree costs a stat walk, and a fresh clone one read of its
// files (hashed, not compressed). A tree with a file changed less than
// two seconds before it was hashed is not mapped (the next build hashes
// it again): on a file system with coarse times, a change made just
// after the stat walk could leave the stat as it was.
//
// On a hit no tar is written and nothing is compressed. A hit's blob is
// re-hashed once before its bytes are first served; a corrupt entry is
// rebuilt, never served. So entries are written without waiting for the
// disk (no fsync): a machine crash may lose the last ones, or tear them,
// and they are then rebuilt. A source changed during the build (between
// the key's walk and the write, or while a file is read) never has its
// new bytes stored under the old content's key: the build starts again,
// reading the sources afresh, and fails with ErrChanged when they changed
// during three attempts in a row. A file whose stat changed but not its
// content (a touch, a save of the same bytes) is hashed again and passes,
// when the key hashed it (not when the key's hash was remembered by the
// tree's stat). The cache grows without bound unless
// WithCacheLimit is given (or PruneCache run). The default is no cache:
// each layer spools to an unlinked temp file.
func WithCache(dir string) LayerOption {
	return func(o *layerOptions) error {
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
// it when it is (zstd has no Docker media type; EStargz takes the gzip
// types, ZstdChunked the zstd one). The default is the OCI type of the
// compression.
func WithMediaType(mt types.MediaType) LayerOption {
	return func(o *layerOptions) error {
		if _, ok := mediaTypeCompression(mt); !ok {
			return optErr("WithMediaType", "%q is not a layer media type this package writes", mt)
		}
		o.mediaType = mt
		return nil
	}
}

// WithTempDir sets the directory of the spool files that hold built layers
// when no cache is used, and, cache or not, of the uncompressed tar that
// EStargz and ZstdChunked layers spool while their blob is made and of
// the downloads of URLFile. The default is os.TempDir().
func WithTempDir(dir string) LayerOption {
	return func(o *layerOptions) error {
		if dir == "" {
			return optErr("WithTempDir", "empty directory")
		}
		o.tempDir = dir
		return nil
	}
}

// WithConcurrency sets how many goroutines compress in parallel. The
// output bytes do not depend on it (gzip is cut into fixed 256 KiB blocks).
// EStargz and ZstdChunked layers ignore it: they are always compressed in
// four parts at once, a number fixed because it shapes their bytes. The
// default is runtime.GOMAXPROCS(0).
func WithConcurrency(n int) LayerOption {
	return func(o *layerOptions) error {
		if n < 1 {
			return optErr("WithConcurrency", "%d is not positive", n)
		}
		o.concurrency = n
		return nil
	}
}

// WithPrioritizedFiles puts the named files first in an EStargz or
// ZstdChunked layer, in the order given and followed by the format's
// prefetch landmark, so that a lazy puller (containerd's stargz
// snapshotter) fetches them before the rest of the layer: name the
// entrypoint and what it reads at start-up. Paths are image paths
// ("/usr/local/bin/app"), where the layer places the files (after
// WithRoot). Their parent directories, and a hardlink's target, come with
// them; the layer's whiteouts stay before them. The formats need every
// parent of a prioritized file in the layer: those a placed layer would
// leave to the base (see Placement) are written, with the base's mode
// and owner, as docker build's COPY writes them. A path the layer does not
// hold (a typo, a file left out by image.WithSkipUnchanged, or placed
// under the target of a base's symlink: see Placement) is skipped: the
// files are the same, only their order differs. Several calls add paths.
// The paths are part of the cache key. With another compression it is an
// error wrapping ErrInvalidOption. The default is none: the layer keeps
// the order of its sources, after the no-prefetch landmark.
func WithPrioritizedFiles(paths ...string) LayerOption {
	return func(o *layerOptions) error {
		prioritized, err := cleanNames("WithPrioritizedFiles", "path", paths)
		o.prioritized = append(o.prioritized, prioritized...)
		return err
	}
}

// mediaTypeCompression returns the compression of a layer media type
// this package writes.
func mediaTypeCompression(mt types.MediaType) (Compression, bool) {
	k, ok := mediatype.LayerKind(mt)
	if !ok || k.Foreign {
		return 0, false
	}
	for c, f := range compressionFormat {
		if f == k.Compression {
			return c, true
		}
	}
	return 0, false
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

// applySourceOptions applies opts to fresh source options.
func applySourceOptions(opts []SourceOption) (*sourceOptions, error) {
	o := &sourceOptions{}
	if err := option.Apply(o, opts); err != nil {
		return nil, err
	}
	return o, nil
}

// applyLayerOptions applies opts to fresh layer options.
func applyLayerOptions(opts []LayerOption) (*layerOptions, error) {
	o := &layerOptions{}
	if err := option.Apply(o, opts); err != nil {
		return nil, err
	}
	return o, nil
}

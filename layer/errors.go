package layer

import (
	"errors"

	"github.com/stevedore-dev/stevedore/internal/tarx"
)

// Sentinel errors. Errors returned by this package wrap them (with the entry,
// path or URL concerned), so callers match them with errors.Is.
var (
	// ErrInvalidOption reports an invalid option argument, or an option
	// given to a source kind it does not apply to.
	ErrInvalidOption = errors.New("layer: invalid option")
	// ErrEscapesRoot reports an entry whose name or hardlink target leaves
	// the layer root through "..".
	ErrEscapesRoot = tarx.ErrEscapesRoot
	// ErrThroughSymlink reports an entry that would be written through a
	// symlink placed earlier in the same layer (for example "a" -> "/etc",
	// then "a/passwd").
	ErrThroughSymlink = tarx.ErrThroughSymlink
	// ErrNotDir reports an entry placed under a path that is not a
	// directory in the layer (a regular file, say).
	ErrNotDir = tarx.ErrNotDir
	// ErrLinkTarget reports a hardlink whose target is not a regular file
	// placed earlier in the same layer (missing, later, filtered out, or a
	// directory).
	ErrLinkTarget = tarx.ErrLinkTarget
	// ErrBaseLink reports a symlink of the image below a placed layer that
	// a path goes through and that cannot be followed: it leaves the image
	// root, or it loops.
	ErrBaseLink = tarx.ErrBaseLink
	// ErrUnsupportedEntry reports a tar entry type that cannot be put in a
	// layer (multi-volume continuations, volume labels, unknown types).
	ErrUnsupportedEntry = tarx.ErrUnsupportedEntry
	// ErrChanged reports a source that changed during the build: an
	// entry added, removed or written to between two reads of the build
	// (the cache key's and the layer's, the passes of a layer that needs
	// two, Facts), or while it was read. The error names the entry; the
	// layer is not built (nor stored in a cache). A build starts again
	// (twice at most) before it reports it; Facts, whose layer is built
	// already, does not. A cache hit whose corrupt entry is rebuilt from
	// a source changed since reports it too, naming the digests that
	// differ.
	ErrChanged = tarx.ErrChanged
	// ErrNoMatch reports a WithOnly name or WithInclude pattern that
	// matched no entry of its source.
	ErrNoMatch = errors.New("layer: filter matched nothing")
	// ErrNotTar reports input that is not a tar archive (after any gzip,
	// zstd, bzip2 or xz decompression), or an empty input.
	ErrNotTar = errors.New("layer: input is not a tar archive")
	// ErrUnsupportedCompression reports a compressed input in a format this
	// package does not read (lz4, zip, 7z, ...).
	ErrUnsupportedCompression = errors.New("layer: unsupported compression")
	// ErrDigestMismatch reports that a download or file does not have the
	// sha256 given with WithSHA256.
	ErrDigestMismatch = errors.New("layer: sha256 mismatch")
	// ErrSizeLimit reports input that expands past the WithSizeLimit limit.
	ErrSizeLimit = errors.New("layer: size limit exceeded")
	// ErrHTTPStatus reports a non-2xx answer to a download.
	ErrHTTPStatus = errors.New("layer: unexpected HTTP status")
)

// ErrOption is the former name of ErrInvalidOption.
//
// Deprecated: use ErrInvalidOption.
var ErrOption = ErrInvalidOption

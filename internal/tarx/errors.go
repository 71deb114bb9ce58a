package tarx

import "errors"

// Sentinel errors, re-exported by package layer.
var (
	ErrEscapesRoot      = errors.New("layer: entry escapes root")
	ErrThroughSymlink   = errors.New("layer: entry is written through a symlink")
	ErrNotDir           = errors.New("layer: parent of entry is not a directory")
	ErrLinkTarget       = errors.New("layer: hardlink target is not an earlier regular file")
	ErrUnsupportedEntry = errors.New("layer: unsupported tar entry type")
	ErrChanged          = errors.New("layer: source changed during the build")
)

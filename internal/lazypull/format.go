package lazypull

import (
	"fmt"

	"github.com/stevedore-dev/stevedore/internal/compress"
)

// Format is a lazily pullable layer format.
type Format int

// Formats.
const (
	// EStargz is eStargz: a gzip stream of tar entries, each regular file
	// (and each 4 MiB chunk of a large one) in its own gzip member, with a
	// table of contents at the end. Every gzip reader reads it as a
	// tar.gz; containerd's stargz snapshotter pulls it lazily.
	EStargz Format = iota + 1
	// ZstdChunked is zstd:chunked: a zstd stream of tar entries, each
	// regular file in its own zstd frame, with a table of contents in a
	// skippable frame at the end. Every zstd reader reads it as a
	// tar.zst; podman and CRI-O (containers/storage) pull it partially.
	ZstdChunked
)

// String returns "estargz" or "zstd:chunked", the names ParseFormat
// accepts.
func (f Format) String() string {
	switch f {
	case EStargz:
		return "estargz"
	case ZstdChunked:
		return "zstd:chunked"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// ParseFormat returns the Format named s ("estargz" or "zstd:chunked").
func ParseFormat(s string) (Format, error) {
	for _, f := range []Format{EStargz, ZstdChunked} {
		if s == f.String() {
			return f, nil
		}
	}
	return 0, fmt.Errorf("%w: unknown lazy-pull format %q (want estargz or zstd:chunked)", ErrInvalidOption, s)
}

// Compression is the compression other clients see: eStargz blobs are
// gzip (media type ...tar+gzip), zstd:chunked blobs are zstd
// (...tar+zstd).
func (f Format) Compression() compress.Format {
	if f == ZstdChunked {
		return compress.Zstd
	}
	return compress.Gzip
}

func (f Format) valid() bool { return f == EStargz || f == ZstdChunked }

// levels returns the format's default compression level and its range.
func (f Format) levels() (def, lo, hi int) {
	if f == ZstdChunked {
		return 3, 1, 22
	}
	return 1, 1, 9
}

package lazypull

import "errors"

var (
	// ErrInvalidOption reports an option with a bad argument.
	ErrInvalidOption = errors.New("lazypull: invalid option")

	// ErrCompressedInput reports an input that is a compressed stream
	// (gzip or zstd) where an uncompressed tar was expected.
	ErrCompressedInput = errors.New("lazypull: input is compressed, want an uncompressed tar")

	// ErrNoTOC reports a blob that is neither an eStargz nor a
	// zstd:chunked layer: no footer of either format was found at its
	// end, or the TOC it points to cannot be read.
	ErrNoTOC = errors.New("lazypull: no eStargz or zstd:chunked table of contents")

	// ErrTOCTooLarge reports a table of contents larger than MaxTOCSize
	// (compressed) or MaxTOCJSONSize (decompressed).
	ErrTOCTooLarge = errors.New("lazypull: table of contents too large")

	// ErrTOCDigest reports a table of contents whose digest differs from
	// the one the layer's descriptor annotations announce.
	ErrTOCDigest = errors.New("lazypull: table of contents digest mismatch")
)

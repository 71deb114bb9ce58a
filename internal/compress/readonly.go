package compress

import (
	"bytes"
	"compress/bzip2"
	"fmt"
	"io"

	"github.com/ulikunitz/xz"
)

// xzMagic starts every xz stream (the .xz file format, section 2.1.1.1).
var xzMagic = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}

// isBzip2 reports a bzip2 stream header: "BZh", a block size digit 1..9,
// and the first block's magic (the digits of pi) or an empty stream's
// end-of-stream magic (sqrt(pi)). The extra bytes keep a plain tar whose
// first entry is named "BZh..." from being taken for bzip2.
func isBzip2(head []byte) bool {
	if len(head) < 8 || !bytes.HasPrefix(head, []byte("BZh")) || head[3] < '1' || head[3] > '9' {
		return false
	}
	m := head[4:8]
	return bytes.Equal(m, []byte{0x31, 0x41, 0x59, 0x26}) || bytes.Equal(m, []byte{0x17, 0x72, 0x45, 0x38})
}

// newReadOnly returns a reader of the formats that are read but never
// written: bzip2 (the standard library's reader, which reads concatenated
// streams) and xz (github.com/ulikunitz/xz, concatenated streams and
// padding included).
func newReadOnly(r io.Reader, f Format) (io.ReadCloser, error) {
	switch f {
	case Bzip2:
		return io.NopCloser(bzip2.NewReader(r)), nil
	case Xz:
		xr, err := xz.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("reading xz header: %w", err)
		}
		return io.NopCloser(xr), nil
	}
	return nil, fmt.Errorf("%w: %v", ErrUnsupported, f)
}

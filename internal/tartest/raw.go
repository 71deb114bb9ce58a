package tartest

import (
	"archive/tar"
	"fmt"
	"slices"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// blockSize is the size of a tar block: headers and padded contents.
const blockSize = 512

// RawHeader is a hand-made ustar header block for an entry named name of
// type typ whose content is size bytes long: mode 0644, owner 0:0, mtime
// [DefaultModTime]. It is for the headers archive/tar refuses to write
// (a PAX extended header 'x' with records of the test's choosing, a type
// flag it does not know); the content, if any, follows it.
func RawHeader(name string, typ byte, size int64) []byte {
	b := header(name, typ, size)
	copy(b[257:265], "ustar\x0000")
	checksum(b)
	return b
}

// RawFile is RawHeader(name, typ, len(body)) then body padded to a whole
// block.
func RawFile(name string, typ byte, body []byte) []byte {
	return slices.Concat(RawHeader(name, typ, int64(len(body))), pad(body))
}

// PAXRecord is one record of a PAX extended header: "LEN key=value\n",
// where LEN counts the whole record, its own digits included.
func PAXRecord(key, value string) string {
	s := " " + key + "=" + value + "\n"
	n := len(s)
	for {
		m := len(strconv.Itoa(n)) + len(s)
		if m == n {
			return strconv.Itoa(n) + s
		}
		n = m
	}
}

// GNUSparse is an old-GNU sparse entry (type 'S') of logical size
// realSize whose data segments, (offset, length) pairs in order, hold
// data: the header block, then data padded. At most 4 segments fit in
// the header.
func GNUSparse(tb testing.TB, name string, realSize int64, segs [][2]int64, data string) []byte {
	tb.Helper()
	require.LessOrEqual(tb, len(segs), 4, "GNUSparse: at most 4 segments fit in the header")
	b := header(name, tar.TypeGNUSparse, int64(len(data)))
	copy(b[257:265], "ustar  \x00")
	for i, s := range segs {
		off := 386 + i*24
		octal(b[off:off+12], s[0])
		octal(b[off+12:off+24], s[1])
	}
	octal(b[483:495], realSize)
	checksum(b)
	return slices.Concat(b, pad([]byte(data)))
}

// Raw joins parts, each padded to a whole block, and ends them with a
// tar footer (two zero blocks).
func Raw(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, pad(p)...)
	}
	return append(out, make([]byte, 2*blockSize)...)
}

// header is a header block with the fields every hand-made header shares;
// the magic and the checksum are left to the caller.
func header(name string, typ byte, size int64) []byte {
	b := make([]byte, blockSize)
	copy(b[0:100], name)
	octal(b[100:108], 0o644)
	octal(b[108:116], 0)
	octal(b[116:124], 0)
	octal(b[124:136], size)
	octal(b[136:148], DefaultModTime.Unix())
	b[156] = typ
	return b
}

// octal writes v in octal, zero-padded, NUL-terminated, to field.
func octal(field []byte, v int64) {
	copy(field, fmt.Sprintf("%0*o\x00", len(field)-1, v))
}

// checksum sets the header's checksum: the sum of its bytes with the
// checksum field taken as spaces.
func checksum(b []byte) {
	copy(b[148:156], "        ")
	sum := 0
	for _, c := range b[:blockSize] {
		sum += int(c)
	}
	copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
}

// pad returns b followed by zeros up to a whole number of blocks.
func pad(b []byte) []byte {
	if r := len(b) % blockSize; r != 0 {
		return slices.Concat(b, make([]byte, blockSize-r))
	}
	return b
}

package layer_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// bCheckErr checks that err wraps want and names every one of names.
func bCheckErr(t *testing.T, call string, err, want error, names []string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s = nil error, want one wrapping %v", call, want)
	}
	if !errors.Is(err, want) {
		t.Errorf("%s = %v, want an error wrapping %v", call, err, want)
	}
	for _, n := range names {
		if !strings.Contains(err.Error(), n) {
			t.Errorf("%s = %v, want it to name %s", call, err, n)
		}
	}
}

// bEnt is one entry of a test tarball.
type bEnt struct {
	h    *tar.Header
	body string
}

func bReg(name, body string) bEnt {
	return bEnt{h: &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(body))}, body: body}
}
func bDir(name string) bEnt {
	return bEnt{h: &tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755}}
}
func bSym(name, target string) bEnt {
	return bEnt{h: &tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777}}
}
func bLink(name, target string) bEnt {
	return bEnt{h: &tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target, Mode: 0o644}}
}
func (e bEnt) mode(m int64) bEnt        { h := *e.h; h.Mode = m; e.h = &h; return e }
func (e bEnt) format(f tar.Format) bEnt { h := *e.h; h.Format = f; e.h = &h; return e }

// bTar writes entries with archive/tar.
func bTar(t testing.TB, ents ...bEnt) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := *e.h
		if h.ModTime.IsZero() {
			h.ModTime = time.Unix(1700000000, 0)
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatalf("bTar: header %q: %v", h.Name, err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatalf("bTar: body %q: %v", h.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// bRaw concatenates raw blocks, then the tar (with its footer) or a
// footer.
func bRaw(t testing.TB, blocks []byte, rest []byte) []byte {
	t.Helper()
	if rest == nil {
		rest = make([]byte, 1024)
	}
	return append(bytes.Clone(blocks), rest...)
}

func paxRecord(k, v string) string {
	s := " " + k + "=" + v + "\n"
	n := len(s)
	for {
		if m := len(strconv.Itoa(n)) + len(s); m != n {
			n = m
			continue
		}
		return strconv.Itoa(n) + s
	}
}

// bPAXBlock is a PAX extended header holding one comment record of body,
// followed by a regular file entry.
func bPAXBlock(t testing.TB, name, comment string) []byte {
	t.Helper()
	return append(bRawHeader(t, "PaxHeaders/"+name, tar.TypeXHeader, []byte(paxRecord("comment", comment))),
		bRawHeader(t, name, tar.TypeReg, []byte("x"))...)
}

// bRawHeader is a hand-made ustar header block with the typeflag and body
// (padded to 512 bytes): archive/tar's writer refuses to write PAX headers
// by hand.
func bRawHeader(t testing.TB, name string, typ byte, body []byte) []byte {
	t.Helper()
	b := make([]byte, 512)
	copy(b[0:100], name)
	octal(b[100:108], 0o644)
	octal(b[108:116], 0)
	octal(b[116:124], 0)
	octal(b[124:136], int64(len(body)))
	octal(b[136:148], 1700000000)
	b[156] = typ
	copy(b[257:263], "ustar\x00")
	copy(b[263:265], "00")
	checksum(b)
	b = append(b, body...)
	if r := len(body) % 512; r != 0 {
		b = append(b, make([]byte, 512-r)...)
	}
	return b
}

// bGNUSparse is a hand-made old-GNU sparse entry ('S') of logical size
// realSize whose data segments (offset, length) hold data, in order.
func bGNUSparse(t testing.TB, name string, realSize int64, segs [][2]int64, data string) []byte {
	t.Helper()
	if len(segs) > 4 {
		t.Fatal("bGNUSparse: at most 4 segments")
	}
	b := make([]byte, 512)
	copy(b[0:100], name)
	octal(b[100:108], 0o644)
	octal(b[108:116], 0)
	octal(b[116:124], 0)
	octal(b[124:136], int64(len(data)))
	octal(b[136:148], 1700000000)
	b[156] = tar.TypeGNUSparse
	copy(b[257:265], "ustar  \x00")
	for i, s := range segs {
		off := 386 + i*24
		octal(b[off:off+12], s[0])
		octal(b[off+12:off+24], s[1])
	}
	octal(b[483:495], realSize)
	checksum(b)
	b = append(b, data...)
	if r := len(data) % 512; r != 0 {
		b = append(b, make([]byte, 512-r)...)
	}
	return b
}

func octal(field []byte, v int64) {
	s := strconv.FormatInt(v, 8)
	s = strings.Repeat("0", len(field)-1-len(s)) + s
	copy(field, s+"\x00")
}

func checksum(b []byte) {
	copy(b[148:156], "        ")
	sum := 0
	for _, c := range b[:512] {
		sum += int(c)
	}
	copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
}

func bGzip(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func bZstd(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// bSummary lists a layer's entries, one per line: name, typeflag, mode in
// octal, then "-> target" for links, "major,minor" for devices, and the
// quoted content of regular files.
func bSummary(t testing.TB, l interface {
	Uncompressed() (io.ReadCloser, error)
}) string {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatalf("Uncompressed() = %v", err)
	}
	defer rc.Close()
	var sb strings.Builder
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return sb.String()
		}
		if err != nil {
			t.Fatalf("reading the layer: %v", err)
		}
		fmt.Fprintf(&sb, "%s %c %04o", h.Name, h.Typeflag, h.Mode)
		switch h.Typeflag {
		case tar.TypeSymlink, tar.TypeLink:
			fmt.Fprintf(&sb, " -> %s", h.Linkname)
		case tar.TypeChar, tar.TypeBlock:
			fmt.Fprintf(&sb, " %d,%d", h.Devmajor, h.Devminor)
		case tar.TypeReg:
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatalf("reading %s: %v", h.Name, err)
			}
			fmt.Fprintf(&sb, " %q", b)
		}
		sb.WriteByte('\n')
	}
}

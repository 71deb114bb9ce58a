package tartest_test

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ulikunitz/xz"

	"github.com/stevedore-dev/stevedore/internal/tartest"
)

func TestEntries(t *testing.T) {
	mt := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name string
		e    tartest.Entry
		want tar.Header // the fields compared: Typeflag Name Linkname Mode Uid Gid Uname Gname Size ModTime
		body string
	}{
		{"File", tartest.File("a/f", "hello"),
			tar.Header{Typeflag: tar.TypeReg, Name: "a/f", Mode: 0o644, Size: 5, ModTime: tartest.DefaultModTime}, "hello"},
		{"Dir", tartest.Dir("a/"),
			tar.Header{Typeflag: tar.TypeDir, Name: "a/", Mode: 0o755, ModTime: tartest.DefaultModTime}, ""},
		{"Symlink", tartest.Symlink("l", "/etc"),
			tar.Header{Typeflag: tar.TypeSymlink, Name: "l", Linkname: "/etc", Mode: 0o777, ModTime: tartest.DefaultModTime}, ""},
		{"Hardlink", tartest.Hardlink("h", "a/f"),
			tar.Header{Typeflag: tar.TypeLink, Name: "h", Linkname: "a/f", Mode: 0o644, ModTime: tartest.DefaultModTime}, ""},
		{"Whiteout", tartest.Whiteout("usr/share/doc/"),
			tar.Header{Typeflag: tar.TypeReg, Name: "usr/share/.wh.doc", Mode: 0o644, ModTime: tartest.DefaultModTime}, ""},
		{"Whiteout at the root", tartest.Whiteout("tmp"),
			tar.Header{Typeflag: tar.TypeReg, Name: ".wh.tmp", Mode: 0o644, ModTime: tartest.DefaultModTime}, ""},
		{"Opaque", tartest.Opaque("var/cache/"),
			tar.Header{Typeflag: tar.TypeReg, Name: "var/cache/.wh..wh..opq", Mode: 0o644, ModTime: tartest.DefaultModTime}, ""},
		{"Opaque root", tartest.Opaque("."),
			tar.Header{Typeflag: tar.TypeReg, Name: ".wh..wh..opq", Mode: 0o644, ModTime: tartest.DefaultModTime}, ""},
		{"WithMode", tartest.File("su", "x").WithMode(0o4755),
			tar.Header{Typeflag: tar.TypeReg, Name: "su", Mode: 0o4755, Size: 1, ModTime: tartest.DefaultModTime}, "x"},
		{"WithOwner and names", tartest.File("o", "").WithOwner(1000, 1001).WithOwnerNames("dev", "staff"),
			tar.Header{Typeflag: tar.TypeReg, Name: "o", Mode: 0o644, Uid: 1000, Gid: 1001, Uname: "dev", Gname: "staff", ModTime: tartest.DefaultModTime}, ""},
		{"WithModTime", tartest.Dir("d/").WithModTime(mt),
			tar.Header{Typeflag: tar.TypeDir, Name: "d/", Mode: 0o755, ModTime: mt}, ""},
		{"Entry literal of another type", tartest.Entry{Header: tar.Header{Typeflag: tar.TypeChar, Name: "dev/null", Mode: 0o666, Devmajor: 1, Devminor: 3}},
			tar.Header{Typeflag: tar.TypeChar, Name: "dev/null", Mode: 0o666, ModTime: tartest.DefaultModTime}, ""},
		{"Entry literal sizes itself from Body", tartest.Entry{Header: tar.Header{Typeflag: tar.TypeReg, Name: "f", Mode: 0o600}, Body: "abc"},
			tar.Header{Typeflag: tar.TypeReg, Name: "f", Mode: 0o600, Size: 3, ModTime: tartest.DefaultModTime}, "abc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tartest.Read(t, bytes.NewReader(tartest.Bytes(t, tc.e)))
			require.Len(t, got, 1)
			h := got[0].Header
			assert.Equal(t, tc.want, tar.Header{Typeflag: h.Typeflag, Name: h.Name, Linkname: h.Linkname, Mode: h.Mode,
				Uid: h.Uid, Gid: h.Gid, Uname: h.Uname, Gname: h.Gname, Size: h.Size, ModTime: h.ModTime.UTC()},
				"Bytes(%s) read back", tc.name)
			assert.Equal(t, tc.body, got[0].Body, "content of %s", tc.name)
		})
	}
}

func TestPAX(t *testing.T) {
	base := tartest.File("f", "x").WithPAX(map[string]string{"comment": "one"})
	e := base.WithPAX(map[string]string{"SCHILY.xattr.user.k": "v"})
	assert.Equal(t, map[string]string{"comment": "one"}, base.Header.PAXRecords, "WithPAX changed the entry it was called on")

	got := tartest.Read(t, bytes.NewReader(tartest.Bytes(t, tartest.Global(map[string]string{"comment": "global"}), e)))
	require.Len(t, got, 2)
	assert.Equal(t, byte(tar.TypeXGlobalHeader), got[0].Header.Typeflag)
	assert.Equal(t, "global", got[0].Header.PAXRecords["comment"])
	assert.Equal(t, "one", got[1].Header.PAXRecords["comment"], "an entry's own record wins over the global one")
	assert.Equal(t, "v", got[1].Header.PAXRecords["SCHILY.xattr.user.k"])
}

func TestStreamDefaults(t *testing.T) {
	mt := time.Unix(1600000000, 0)
	own := time.Unix(1, 0)
	s := tartest.New(tartest.File("a", "1"), tartest.File("b", "2").WithModTime(own)).
		WithModTime(mt).WithFormat(tar.FormatPAX)
	hs := s.Headers()
	require.Len(t, hs, 2)
	assert.Equal(t, mt, hs[0].ModTime, "an entry with no mtime has the stream's")
	assert.Equal(t, own, hs[1].ModTime, "an entry's own mtime wins")
	assert.Equal(t, tar.FormatPAX, hs[0].Format)

	gnu := s.Append(tartest.File(strings.Repeat("n", 120), "x").WithFormat(tar.FormatGNU))
	got := tartest.Read(t, bytes.NewReader(gnu.Bytes(t)))
	require.Len(t, got, 3)
	assert.Equal(t, tar.FormatGNU, got[2].Header.Format, "an entry's own format wins")
	assert.Len(t, s.Headers(), 2, "Append changed the stream it was called on")

	var buf bytes.Buffer
	n, err := s.WriteTo(&buf)
	require.NoError(t, err)
	assert.Equal(t, int64(buf.Len()), n, "WriteTo's count")
	assert.Equal(t, buf.Bytes(), s.Bytes(t), "WriteTo and Bytes write the same stream")
}

// TestByteIdentical: a stream is the bytes archive/tar writes for the
// same headers, so a test moved onto tartest keeps its digests.
func TestByteIdentical(t *testing.T) {
	mt := time.Unix(0, 0)
	var want bytes.Buffer
	tw := tar.NewWriter(&want)
	for _, h := range []*tar.Header{
		{Typeflag: tar.TypeDir, Name: "d/", Mode: 0o755, ModTime: mt, Format: tar.FormatPAX},
		{Typeflag: tar.TypeReg, Name: "d/f", Mode: 0o600, Size: 2, ModTime: mt, Format: tar.FormatPAX},
	} {
		require.NoError(t, tw.WriteHeader(h))
		if h.Size > 0 {
			_, err := tw.Write([]byte("hi"))
			require.NoError(t, err)
		}
	}
	require.NoError(t, tw.Close())
	got := tartest.New(tartest.Dir("d/"), tartest.File("d/f", "hi").WithMode(0o600)).
		WithModTime(mt).WithFormat(tar.FormatPAX).Bytes(t)
	assert.Equal(t, want.Bytes(), got)
}

func TestRefused(t *testing.T) {
	var buf bytes.Buffer
	n, err := tartest.New(tartest.File("ok", "x"), tartest.File("f", "x").WithFormat(tar.FormatUSTAR).WithPAX(map[string]string{"comment": "c"})).
		WriteTo(&buf)
	assert.ErrorContains(t, err, `header of "f"`, "WriteTo of a USTAR entry with PAX records")
	assert.Zero(t, n, "bytes WriteTo wrote before the refused entry")
	assert.Zero(t, buf.Len(), "bytes WriteTo wrote before the refused entry")
}

func TestCompressAndTempFile(t *testing.T) {
	in := tartest.Bytes(t, tartest.File("f", strings.Repeat("x", 1000)))

	zr, err := gzip.NewReader(bytes.NewReader(tartest.Gzip(t, in)))
	require.NoError(t, err)
	got, err := io.ReadAll(zr)
	require.NoError(t, err)
	assert.Equal(t, in, got, "gunzip(Gzip(b))")

	dr, err := zstd.NewReader(bytes.NewReader(tartest.Zstd(t, in)))
	require.NoError(t, err)
	defer dr.Close()
	got, err = io.ReadAll(dr)
	require.NoError(t, err)
	assert.Equal(t, in, got, "unzstd(Zstd(b))")

	xr, err := xz.NewReader(bytes.NewReader(tartest.Xz(t, in)))
	require.NoError(t, err)
	got, err = io.ReadAll(xr)
	require.NoError(t, err)
	assert.Equal(t, in, got, "unxz(Xz(b))")

	p := tartest.TempFile(t, "in.tar", in)
	assert.Equal(t, "in.tar", filepath.Base(p))
	got, err = os.ReadFile(p)
	require.NoError(t, err)
	assert.Equal(t, in, got, "content of TempFile")
}

// TestRead: Read gives back what a stream holds, headers and contents,
// in order.
func TestRead(t *testing.T) {
	mt := time.Unix(1600000000, 0).UTC()
	got := tartest.Read(t, bytes.NewReader(tartest.New(
		tartest.Dir("d/"),
		tartest.File("d/f", "content").WithOwner(5, 6),
		tartest.Symlink("d/l", "f"),
	).WithModTime(mt).Bytes(t)))
	require.Len(t, got, 3)
	for i, want := range []struct {
		typ        byte
		name, link string
		uid        int
		body       string
	}{
		{tar.TypeDir, "d/", "", 0, ""},
		{tar.TypeReg, "d/f", "", 5, "content"},
		{tar.TypeSymlink, "d/l", "f", 0, ""},
	} {
		h := got[i].Header
		assert.Equal(t, want.typ, h.Typeflag, "entry %d: type", i)
		assert.Equal(t, want.name, h.Name, "entry %d: name", i)
		assert.Equal(t, want.link, h.Linkname, "entry %d: link", i)
		assert.Equal(t, want.uid, h.Uid, "entry %d: uid", i)
		assert.Equal(t, mt, h.ModTime.UTC(), "entry %d: mtime", i)
		assert.Equal(t, want.body, got[i].Body, "entry %d: content", i)
	}
	assert.Empty(t, tartest.Read(t, bytes.NewReader(tartest.Bytes(t))), "Read of an empty stream")
}

func TestPAXRecord(t *testing.T) {
	for _, v := range []string{"", "x", strings.Repeat("y", 89), strings.Repeat("z", 90), strings.Repeat("w", 995)} {
		rec := tartest.PAXRecord("path", v)
		n, rest, ok := strings.Cut(rec, " ")
		require.True(t, ok, "PAXRecord(path, %d bytes) = %q: no length", len(v), rec)
		assert.Equal(t, strconv.Itoa(len(rec)), n, "length of PAXRecord(path, %d bytes)", len(v))
		assert.Equal(t, "path="+v+"\n", rest)
	}
}

func TestRaw(t *testing.T) {
	rec := []byte(tartest.PAXRecord("path", "renamed"))
	b := tartest.Raw(
		tartest.RawHeader("d/", tar.TypeDir, 0),
		tartest.RawFile("PaxHeaders/f", tar.TypeXHeader, rec),
		tartest.RawFile("f", tar.TypeReg, []byte("body")),
	)
	assert.Zero(t, len(b)%512, "Raw's length is whole blocks")
	assert.Equal(t, make([]byte, 1024), b[len(b)-1024:], "Raw ends with a footer")
	got := tartest.Read(t, bytes.NewReader(b))
	require.Len(t, got, 2)
	assert.Equal(t, "d/", got[0].Header.Name)
	assert.Equal(t, byte(tar.TypeDir), got[0].Header.Typeflag)
	assert.Equal(t, int64(0o644), got[0].Header.Mode)
	assert.Equal(t, tartest.DefaultModTime.Unix(), got[0].Header.ModTime.Unix())
	assert.Equal(t, "renamed", got[1].Header.Name, "the hand-made PAX record renames the next entry")
	assert.Equal(t, "body", got[1].Body)
}

func TestGNUSparse(t *testing.T) {
	b := tartest.Raw(tartest.GNUSparse(t, "s", 12, [][2]int64{{0, 2}, {10, 2}}, "abcd"))
	got := tartest.Read(t, bytes.NewReader(b))
	require.Len(t, got, 1)
	assert.Equal(t, "s", got[0].Header.Name)
	assert.Equal(t, int64(12), got[0].Header.Size)
	assert.Equal(t, "ab\x00\x00\x00\x00\x00\x00\x00\x00cd", got[0].Body, "archive/tar expands the holes")
}

// TestWriteTree: a host tree is written in lexical order under the
// prefix, with the host's permission bits and nothing else of the host.
func TestWriteTree(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "b", "sub"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "a.txt"), []byte("a"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(root, "b", "sub", "x"), []byte("xx"), 0o644))
	for p, m := range map[string]os.FileMode{"": 0o755, "b": 0o750, "b/sub": 0o755, "a.txt": 0o600, "b/sub/x": 0o644} {
		require.NoError(t, os.Chmod(filepath.Join(root, p), m)) // whatever the umask
	}
	require.NoError(t, os.Symlink("a.txt", filepath.Join(root, "l")))
	if ln, err := net.Listen("unix", filepath.Join(root, "sock")); err == nil {
		t.Cleanup(func() { ln.Close() })
	}
	mt := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"go", []string{"go/ 5 0755", "go/a.txt 0 0600 a", "go/b/ 5 0750", "go/b/sub/ 5 0755", "go/b/sub/x 0 0644 xx", "go/l 2 0777 -> a.txt"}},
		{"", []string{"a.txt 0 0600 a", "b/ 5 0750", "b/sub/ 5 0755", "b/sub/x 0 0644 xx", "l 2 0777 -> a.txt"}},
	} {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		require.NoError(t, tartest.WriteTree(tw, root, tc.prefix, mt, tar.FormatPAX), "WriteTree(prefix %q)", tc.prefix)
		require.NoError(t, tw.Close())
		var got []string
		for _, e := range tartest.Read(t, &buf) {
			h := e.Header
			line := fmt.Sprintf("%s %c %04o", h.Name, h.Typeflag, h.Mode)
			if h.Linkname != "" {
				line += " -> " + h.Linkname
			}
			if e.Body != "" {
				line += " " + e.Body
			}
			got = append(got, line)
			assert.Equal(t, mt, h.ModTime.UTC(), "mtime of %s", h.Name)
			assert.Equal(t, [2]int{0, 0}, [2]int{h.Uid, h.Gid}, "owner of %s", h.Name)
		}
		assert.Equal(t, tc.want, got, "WriteTree(prefix %q)", tc.prefix)
	}
}

// uncompressed is a layer whose uncompressed tar is b.
type uncompressed []byte

func (b uncompressed) Uncompressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(b)), nil
}

func TestReadLayer(t *testing.T) {
	got := tartest.ReadLayer(t, uncompressed(tartest.Bytes(t, tartest.File("f", "x"), tartest.Dir("d/"))))
	require.Len(t, got, 2)
	assert.Equal(t, "f", got[0].Header.Name)
	assert.Equal(t, "x", got[0].Body)
	assert.Equal(t, "d/", got[1].Header.Name)
}

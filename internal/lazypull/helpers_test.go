package lazypull_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"path"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/internal/lazypull"
)

// file is one entry of a test tar.
type file struct {
	hdr  tar.Header
	data []byte
}

var epoch = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

// randomBytes returns n incompressible bytes seeded by seed.
func randomBytes(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// fixture is a tar of every entry type the formats carry: directories,
// empty, small and large (chunked: over 4 MiB) regular files, a symlink, a
// hardlink, a fifo, a character device, xattrs, owners with names, a name
// over 100 bytes.
func fixture() []file {
	long := "usr/share/" + strings.Repeat("very-long-directory-name/", 5) + "file.txt"
	dir := func(name string) file {
		return file{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755, ModTime: epoch}}
	}
	reg := func(name string, mode int64, data []byte) file {
		return file{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: epoch}, data: data}
	}
	fs := []file{
		dir("app/"),
		reg("app/hello", 0o755, []byte("#!/bin/sh\necho hello\n")),
		reg("app/empty", 0o644, nil),
		reg("app/big.bin", 0o644, randomBytes(1, 4<<20+12345)),
		reg("app/text.txt", 0o644, bytes.Repeat([]byte("lazy pull "), 5000)),
		{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: "app/link", Linkname: "hello", Mode: 0o777, ModTime: epoch}},
		{hdr: tar.Header{Typeflag: tar.TypeLink, Name: "app/hard", Linkname: "app/hello", Mode: 0o755, ModTime: epoch}},
		dir("dev/"),
		{hdr: tar.Header{Typeflag: tar.TypeFifo, Name: "dev/fifo", Mode: 0o600, ModTime: epoch}},
		{hdr: tar.Header{Typeflag: tar.TypeChar, Name: "dev/null", Mode: 0o666, Devmajor: 1, Devminor: 3, ModTime: epoch}},
		dir("home/"),
		dir("home/dev/"),
		{hdr: tar.Header{Typeflag: tar.TypeReg, Name: "home/dev/notes", Mode: 0o4755, Uid: 1000, Gid: 1000,
			Uname: "dev", Gname: "dev", Size: 5, ModTime: epoch}, data: []byte("notes")},
		{hdr: tar.Header{Typeflag: tar.TypeReg, Name: "home/dev/more", Mode: 0o600, Uid: 1000, Gid: 1000,
			Uname: "dev", Gname: "dev", Size: 4, ModTime: epoch}, data: []byte("more")},
		{hdr: tar.Header{Typeflag: tar.TypeReg, Name: "app/capable", Mode: 0o755, Size: 3, ModTime: epoch, Format: tar.FormatPAX,
			PAXRecords: map[string]string{"SCHILY.xattr.user.comment": "hi"}}, data: []byte("cap")},
		dir("usr/"),
		reg(long, 0o644, []byte("long name")),
	}
	for i := range 40 { // enough entries to fill every build part
		fs = append(fs, reg("lib/f"+string(rune('a'+i%26))+string(rune('a'+i/26)), 0o644, randomBytes(uint64(100+i), 1000*i)))
	}
	return fs
}

// tarOf writes files as a tar.
func tarOf(t testing.TB, files []file) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		hdr := f.hdr
		require.NoError(t, tw.WriteHeader(&hdr))
		_, err := tw.Write(f.data)
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	return buf.Bytes()
}

func cleanName(n string) string { return path.Clean("/" + n)[1:] }

func sha(b []byte) v1.Hash {
	s := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(s[:])}
}

// entryOf is the TOC entry a tar header and content should give.
func entryOf(h *tar.Header, data []byte) lazypull.Entry {
	e := lazypull.Entry{
		Name: cleanName(h.Name), Typeflag: h.Typeflag, Mode: h.Mode, UID: h.Uid, GID: h.Gid,
		Uname: h.Uname, Gname: h.Gname, Linkname: h.Linkname,
	}
	if !h.ModTime.IsZero() && h.ModTime.Unix() != 0 {
		e.ModTime = h.ModTime.UTC().Round(time.Second)
	}
	switch h.Typeflag {
	case tar.TypeReg:
		e.Size, e.Digest = h.Size, sha(data)
	case tar.TypeLink:
		e.Linkname = cleanName(h.Linkname)
	case tar.TypeChar, tar.TypeBlock:
		e.Devmajor, e.Devminor = h.Devmajor, h.Devminor
	}
	for k, v := range h.PAXRecords {
		if name, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
			if e.Xattrs == nil {
				e.Xattrs = map[string]string{}
			}
			e.Xattrs[name] = v
		}
	}
	return e
}

// entriesOfFiles is the entries of a fixture.
func entriesOfFiles(files []file) []lazypull.Entry {
	var es []lazypull.Entry
	for _, f := range files {
		es = append(es, entryOf(&f.hdr, f.data))
	}
	return es
}

// tarEntries reads a tar stream as entries, with each entry's content.
func tarEntries(t testing.TB, r io.Reader) ([]lazypull.Entry, map[string][]byte) {
	t.Helper()
	tr := tar.NewReader(r)
	var es []lazypull.Entry
	contents := map[string][]byte{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return es, contents
		}
		require.NoError(t, err)
		data, err := io.ReadAll(tr)
		require.NoError(t, err)
		es = append(es, entryOf(h, data))
		contents[cleanName(h.Name)] = data
	}
}

// decompress decompresses a blob with the standard library's gzip reader
// (eStargz) or klauspost's zstd reader (zstd:chunked).
func decompress(t testing.TB, f lazypull.Format, blob []byte) []byte {
	t.Helper()
	var r io.Reader
	switch f {
	case lazypull.EStargz:
		zr, err := gzip.NewReader(bytes.NewReader(blob))
		require.NoError(t, err)
		r = zr
	case lazypull.ZstdChunked:
		zr, err := zstd.NewReader(bytes.NewReader(blob))
		require.NoError(t, err)
		defer zr.Close()
		r = zr
	}
	out, err := io.ReadAll(r)
	require.NoError(t, err)
	return out
}

// write runs lazypull.Write into memory.
func write(t testing.TB, input []byte, f lazypull.Format, opts ...lazypull.Option) ([]byte, lazypull.Result) {
	t.Helper()
	var blob bytes.Buffer
	res, err := lazypull.Write(context.Background(), &blob, bytes.NewReader(input), f, append([]lazypull.Option{lazypull.WithTempDir(t.TempDir())}, opts...)...)
	require.NoError(t, err)
	return blob.Bytes(), res
}

var formats = []lazypull.Format{lazypull.EStargz, lazypull.ZstdChunked}

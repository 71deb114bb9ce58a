package lazypull_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
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
	"github.com/stevedore-dev/stevedore/internal/tartest"
)

var epoch = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

// fixture is a tar of every entry type the formats carry: directories,
// empty, small and large (chunked: over 4 MiB) regular files, a symlink, a
// hardlink, a fifo, a character device, xattrs, owners with names, a name
// over 100 bytes.
func fixture() []tartest.Entry {
	long := "usr/share/" + strings.Repeat("very-long-directory-name/", 5) + "file.txt"
	dir := func(name string) tartest.Entry { return tartest.Dir(name).WithModTime(epoch) }
	reg := func(name string, mode int64, data []byte) tartest.Entry {
		return tartest.File(name, string(data)).WithMode(mode).WithModTime(epoch)
	}
	fs := []tartest.Entry{
		dir("app/"),
		reg("app/hello", 0o755, []byte("#!/bin/sh\necho hello\n")),
		reg("app/empty", 0o644, nil),
		reg("app/big.bin", 0o644, tartest.Noise(rand.NewPCG(1, 1), 4<<20+12345)),
		reg("app/text.txt", 0o644, bytes.Repeat([]byte("lazy pull "), 5000)),
		tartest.Symlink("app/link", "hello").WithModTime(epoch),
		tartest.Hardlink("app/hard", "app/hello").WithMode(0o755).WithModTime(epoch),
		dir("dev/"),
		{Header: tar.Header{Typeflag: tar.TypeFifo, Name: "dev/fifo", Mode: 0o600, ModTime: epoch}},
		{Header: tar.Header{Typeflag: tar.TypeChar, Name: "dev/null", Mode: 0o666, Devmajor: 1, Devminor: 3, ModTime: epoch}},
		dir("home/"),
		dir("home/dev/"),
		reg("home/dev/notes", 0o4755, []byte("notes")).WithOwner(1000, 1000).WithOwnerNames("dev", "dev"),
		reg("home/dev/more", 0o600, []byte("more")).WithOwner(1000, 1000).WithOwnerNames("dev", "dev"),
		reg("app/capable", 0o755, []byte("cap")).WithFormat(tar.FormatPAX).WithPAX(map[string]string{"SCHILY.xattr.user.comment": "hi"}),
		dir("usr/"),
		reg(long, 0o644, []byte("long name")),
	}
	for i := range 40 { // enough entries to fill every build part
		fs = append(fs, reg("lib/f"+string(rune('a'+i%26))+string(rune('a'+i/26)), 0o644, tartest.Noise(rand.NewPCG(uint64(100+i), 1), 1000*i)))
	}
	return fs
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
func entriesOfFiles(files []tartest.Entry) []lazypull.Entry {
	var es []lazypull.Entry
	for _, f := range files {
		es = append(es, entryOf(&f.Header, []byte(f.Body)))
	}
	return es
}

// tarEntries reads a tar stream as entries, with each entry's content.
func tarEntries(t testing.TB, r io.Reader) ([]lazypull.Entry, map[string][]byte) {
	t.Helper()
	var es []lazypull.Entry
	contents := map[string][]byte{}
	for _, e := range tartest.Read(t, r) {
		es = append(es, entryOf(&e.Header, []byte(e.Body)))
		contents[cleanName(e.Header.Name)] = []byte(e.Body)
	}
	return es, contents
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

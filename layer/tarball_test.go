package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/internal/tartest"
)

// TestTarballRewrite is the table of tarball sources, options and hostile
// inputs: each case gives the expected entries (as summary lines) or the
// expected error (a sentinel and a substring naming the entry).
func TestTarballRewrite(t *testing.T) {
	long := strings.Repeat("d", 100) + "/" + strings.Repeat("f", 99) // 200 characters: PAX
	for _, tc := range []struct {
		name    string
		in      []tartest.Entry
		opts    []Option
		want    string // summary lines; "" with wantErr
		wantErr error
		errHas  string
	}{{
		name: "plain copy keeps tarball names",
		in:   []tartest.Entry{tartest.Dir("a/"), tartest.File("a/f", "x")},
		want: "a/ 5 755\na/f 0 644 \"x\"\n",
	}, {
		name: "root emits parents once",
		in:   []tartest.Entry{tartest.File("f", "x"), tartest.File("g", "y")},
		opts: []Option{WithRoot("/usr/local/bin")},
		want: "usr/ 5 755\nusr/local/ 5 755\nusr/local/bin/ 5 755\nusr/local/bin/f 0 644 \"x\"\nusr/local/bin/g 0 644 \"y\"\n",
	}, {
		name: "dot root entry becomes the root dir with its mode",
		in:   []tartest.Entry{tartest.Dir("./").WithMode(0o750), tartest.File("./f", "x")},
		opts: []Option{WithRoot("/app")},
		want: "app/ 5 750\napp/f 0 644 \"x\"\n",
	}, {
		name: "dot root entry at the layer root is dropped",
		in:   []tartest.Entry{tartest.Dir("./"), tartest.File("./f", "x")},
		want: "f 0 644 \"x\"\n",
	}, {
		name: "strip components drops the stripped dirs",
		in:   []tartest.Entry{tartest.Dir("go/"), tartest.Dir("go/bin/"), tartest.File("go/bin/go", "x"), tartest.File("go/VERSION", "v")},
		opts: []Option{WithStripComponents(1), WithRoot("/opt/go")},
		want: "opt/ 5 755\nopt/go/ 5 755\nopt/go/bin/ 5 755\nopt/go/bin/go 0 644 \"x\"\nopt/go/VERSION 0 644 \"v\"\n",
	}, {
		name: "strip with leading ./ counts clean components",
		in:   []tartest.Entry{tartest.File("./pkg/x", "x")},
		opts: []Option{WithStripComponents(1)},
		want: "x 0 644 \"x\"\n",
	}, {
		name: "only takes one binary",
		in:   []tartest.Entry{tartest.File("LICENSE", "l"), tartest.File("README.md", "r"), tartest.File("ko", "bin").WithMode(0o755)},
		opts: []Option{WithOnly("ko"), WithRoot("/usr/local/bin")},
		want: "usr/ 5 755\nusr/local/ 5 755\nusr/local/bin/ 5 755\nusr/local/bin/ko 0 755 \"bin\"\n",
	}, {
		name: "only a directory keeps its subtree",
		in:   []tartest.Entry{tartest.Dir("a/"), tartest.File("a/x", "1"), tartest.Dir("b/"), tartest.File("b/y", "2"), tartest.File("ab", "3")},
		opts: []Option{WithOnly("a")},
		want: "a/ 5 755\na/x 0 644 \"1\"\n",
	}, {
		name: "include and exclude patterns",
		in:   []tartest.Entry{tartest.File("src/a.go", "a"), tartest.File("src/a_test.go", "t"), tartest.File("doc/x.md", "d"), tartest.File("src/sub/b.go", "b")},
		opts: []Option{WithInclude("src/**/*.go", "src/*.go"), WithExclude("**/*_test.go")},
		want: "src/ 5 755\nsrc/a.go 0 644 \"a\"\nsrc/sub/ 5 755\nsrc/sub/b.go 0 644 \"b\"\n",
	}, {
		name: "absolute names are taken relative to the root",
		in:   []tartest.Entry{tartest.File("/etc/passwd", "root:x"), tartest.File("//x", "y")},
		opts: []Option{WithRoot("/r")},
		want: "r/ 5 755\nr/etc/ 5 755\nr/etc/passwd 0 644 \"root:x\"\nr/x 0 644 \"y\"\n",
	}, {
		name: "inner .. that stays inside is cleaned",
		in:   []tartest.Entry{tartest.File("a/../b", "x")},
		want: "b 0 644 \"x\"\n",
	}, {
		name:    "dotdot escape",
		in:      []tartest.Entry{tartest.File("../evil", "x")},
		wantErr: ErrEscapesRoot, errHas: `"../evil"`,
	}, {
		name:    "dotdot escape after clean",
		in:      []tartest.Entry{tartest.File("a/../../evil", "x")},
		opts:    []Option{WithRoot("/app")},
		wantErr: ErrEscapesRoot, errHas: `"a/../../evil"`,
	}, {
		name:    "hardlink target escape",
		in:      []tartest.Entry{tartest.Hardlink("a", "../../etc/shadow")},
		wantErr: ErrEscapesRoot, errHas: `"a"`,
	}, {
		name:    "hardlink to a later entry",
		in:      []tartest.Entry{tartest.Hardlink("a", "b"), tartest.File("b", "x")},
		wantErr: ErrLinkTarget, errHas: `"a"`,
	}, {
		name:    "hardlink to a missing entry",
		in:      []tartest.Entry{tartest.Hardlink("a", "nope")},
		wantErr: ErrLinkTarget, errHas: `"nope"`,
	}, {
		name:    "hardlink to a directory",
		in:      []tartest.Entry{tartest.Dir("d/"), tartest.Hardlink("a", "d")},
		wantErr: ErrLinkTarget, errHas: `"a"`,
	}, {
		name:    "hardlink target stripped away",
		in:      []tartest.Entry{tartest.File("top", "x"), tartest.Hardlink("go/a", "top")},
		opts:    []Option{WithStripComponents(1)},
		wantErr: ErrLinkTarget, errHas: `"go/a"`,
	}, {
		name:    "hardlink target filtered out",
		in:      []tartest.Entry{tartest.File("a", "x"), tartest.Hardlink("b", "a")},
		opts:    []Option{WithOnly("b")},
		wantErr: ErrLinkTarget, errHas: `"b"`,
	}, {
		name: "hardlinks rewritten under a new root and strip",
		in:   []tartest.Entry{tartest.Dir("pkg/"), tartest.File("pkg/bin/a", "x"), tartest.Hardlink("pkg/bin/b", "pkg/bin/a"), tartest.Hardlink("pkg/c", "./pkg/bin/a")},
		opts: []Option{WithStripComponents(1), WithRoot("/opt")},
		want: "opt/ 5 755\nopt/bin/ 5 755\nopt/bin/a 0 644 \"x\"\nopt/bin/b 1 644 -> opt/bin/a\nopt/c 1 644 -> opt/bin/a\n",
	}, {
		name:    "file through an earlier symlink",
		in:      []tartest.Entry{tartest.Symlink("a", "/etc"), tartest.File("a/passwd", "x")},
		wantErr: ErrThroughSymlink, errHas: `"a/passwd"`,
	}, {
		name:    "file through a symlink placed by a parent path",
		in:      []tartest.Entry{tartest.Symlink("usr/lib", "../lib"), tartest.File("usr/lib/x/y", "x")},
		wantErr: ErrThroughSymlink, errHas: `"usr/lib/x/y"`,
	}, {
		name:    "hardlink through an earlier symlink",
		in:      []tartest.Entry{tartest.File("d/f", "x"), tartest.Symlink("e", "d"), tartest.Hardlink("g", "e/f")},
		wantErr: ErrLinkTarget, errHas: `"g"`,
	}, {
		name:    "hardlink to a file whose parent became a symlink",
		in:      []tartest.Entry{tartest.File("d/f", "x"), tartest.Symlink("d", "/etc"), tartest.Hardlink("g", "d/f")},
		wantErr: ErrThroughSymlink, errHas: `"g"`,
	}, {
		name:    "directory replaced by a symlink, then a file through it",
		in:      []tartest.Entry{tartest.Dir("d/"), tartest.Symlink("d", "/etc"), tartest.File("d/passwd", "x")},
		wantErr: ErrThroughSymlink, errHas: `"d/passwd"`,
	}, {
		name:    "file under a file",
		in:      []tartest.Entry{tartest.File("a", "x"), tartest.File("a/b", "y")},
		wantErr: ErrNotDir, errHas: `"a/b"`,
	}, {
		name: "symlinks are kept, targets untouched",
		in:   []tartest.Entry{tartest.Symlink("l", "../../../etc/passwd"), tartest.Symlink("m", "/abs")},
		want: "l 2 777 -> ../../../etc/passwd\nm 2 777 -> /abs\n",
	}, {
		name: "symlink loop is just two symlinks",
		in:   []tartest.Entry{tartest.Symlink("a", "b"), tartest.Symlink("b", "a")},
		want: "a 2 777 -> b\nb 2 777 -> a\n",
	}, {
		name: "duplicate file: written once, the last wins as on extraction",
		in:   []tartest.Entry{tartest.File("f", "one"), tartest.File("f", "two")},
		want: "f 0 644 \"two\"\n",
	}, {
		name: "duplicate directory: written once, first place, last header",
		in:   []tartest.Entry{tartest.Dir("d/").WithMode(0o700), tartest.Dir("d/").WithMode(0o755), tartest.File("d/f", "x")},
		want: "d/ 5 755\nd/f 0 644 \"x\"\n",
	}, {
		name: "directory replaced by a file: only the file",
		in:   []tartest.Entry{tartest.Dir("d/"), tartest.File("d", "x")},
		want: "d 0 644 \"x\"\n",
	}, {
		name: "setuid, setgid, sticky and odd modes preserved",
		in:   []tartest.Entry{tartest.File("su", "x").WithMode(0o4755), tartest.File("sg", "x").WithMode(0o2711), tartest.Dir("tmp/").WithMode(0o1777), tartest.File("odd", "x").WithMode(0o407)},
		want: "su 0 4755 \"x\"\nsg 0 2711 \"x\"\ntmp/ 5 1777\nodd 0 407 \"x\"\n",
	}, {
		name: "200-character name via PAX",
		in:   []tartest.Entry{tartest.File(long, "x")},
		want: strings.Repeat("d", 100) + "/ 5 755\n" + long + " 0 644 \"x\"\n",
	}, {
		name: "fifo and devices are kept",
		in: []tartest.Entry{
			{Header: tar.Header{Name: "dev/null", Typeflag: tar.TypeChar, Mode: 0o666}},
			{Header: tar.Header{Name: "dev/sda", Typeflag: tar.TypeBlock, Mode: 0o660}},
			{Header: tar.Header{Name: "p", Typeflag: tar.TypeFifo, Mode: 0o600}},
		},
		want: "dev/ 5 755\ndev/null 3 666\ndev/sda 4 660\np 6 600\n",
	}, {
		name:    "volume label refused",
		in:      []tartest.Entry{{Header: tar.Header{Name: "vol", Typeflag: 'V'}}},
		wantErr: ErrUnsupportedEntry, errHas: `"vol"`,
	}, {
		name: "global PAX header dropped",
		in:   []tartest.Entry{tartest.Global(map[string]string{"comment": "x"}), tartest.File("f", "x")},
		want: "f 0 644 \"x\"\n",
	}, {
		name:    "empty symlink target refused",
		in:      []tartest.Entry{{Header: tar.Header{Name: "l", Typeflag: tar.TypeSymlink}}},
		wantErr: ErrUnsupportedEntry, errHas: `"l"`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			p := tartest.TempFile(t, "in.tar", tartest.Bytes(t, tc.in...))
			l, err := FromTarball(p, tc.opts...)
			require.NoError(t, err, "FromTarball()")
			_, err = l.Digest()
			if tc.wantErr != nil {
				assert.ErrorIs(t, err, tc.wantErr, "Digest()")
				assert.ErrorContains(t, err, tc.errHas, "Digest()")
				return
			}
			require.NoError(t, err, "Digest()")
			assert.Equal(t, tc.want, summary(entries(t, l)), "entries")
			check(t, l)
		})
	}
}

// TestTarballMetadata: tarball mtimes are kept unless WithModTime; owners
// reset unless WithOwner/WithPreserveOwner; names, atime/ctime dropped;
// xattrs kept.
func TestTarballMetadata(t *testing.T) {
	in := tartest.Bytes(t, tartest.File("f", "x").WithOwner(1000, 1001).WithModTime(time.Unix(1600000000, 0)).
		WithPAX(map[string]string{"SCHILY.xattr.security.capability": "cap", "atime": "1", "comment": "c"}))
	p := tartest.TempFile(t, "in.tar", in)
	mt := time.Unix(1234567890, 0)
	for _, tc := range []struct {
		name             string
		opts             []Option
		wantMTime        int64
		wantUID, wantGID int
	}{
		{"defaults", nil, 1600000000, 0, 0},
		{"mod time", []Option{WithModTime(mt)}, 1234567890, 0, 0},
		{"owner", []Option{WithOwner(5, 6)}, 1600000000, 5, 6},
		{"preserve owner", []Option{WithPreserveOwner()}, 1600000000, 1000, 1001},
	} {
		l, err := FromTarball(p, tc.opts...)
		require.NoError(t, err)
		es := tartest.ReadLayer(t, l)
		require.Len(t, es, 1, "%s: entries", tc.name)
		h := es[0].Header
		assert.Equal(t, tc.wantMTime, h.ModTime.Unix(), "%s: mtime", tc.name)
		assert.Equal(t, [2]int{tc.wantUID, tc.wantGID}, [2]int{h.Uid, h.Gid}, "%s: uid, gid", tc.name)
		assert.Equal(t, [2]string{}, [2]string{h.Uname, h.Gname}, "%s: owner names", tc.name)
		assert.Equal(t, "cap", h.PAXRecords["SCHILY.xattr.security.capability"], "%s: the xattr's PAX record", tc.name)
		assert.NotContains(t, h.PAXRecords, "comment", "%s: PAX records", tc.name)
		assert.True(t, h.AccessTime.IsZero(), "%s: atime %v, want none", tc.name, h.AccessTime)
	}
}

// TestTarballInputs: compression detected from bytes, broken inputs are
// clear errors.
func TestTarballInputs(t *testing.T) {
	plain := tartest.Bytes(t, tartest.File("f", "hello"))
	gz := tartest.Gzip(t, plain)
	zs := tartest.Zstd(t, plain)
	badCRC := bytes.Clone(gz)
	badCRC[len(badCRC)-8] ^= 0xff
	for _, tc := range []struct {
		name    string
		file    string // the file name: never used for detection
		data    []byte
		opts    []Option
		wantErr error
		errHas  string
	}{
		{"plain named .gz", "x.tar.gz", plain, nil, nil, ""},
		{"gzip named .tar", "x.tar", gz, nil, nil, ""},
		{"zstd named .tgz", "x.tgz", zs, nil, nil, ""},
		{"xz named .tar", "x.tar", tartest.Xz(t, plain), nil, nil, ""},
		{"trailing garbage after tar is ignored", "x.tar", append(bytes.Clone(plain), []byte("garbage")...), nil, nil, ""},
		{"lz4 refused", "x.tar.lz4", []byte{0x04, 0x22, 0x4d, 0x18, 0, 0, 0, 0}, nil, ErrUnsupportedCompression, "lz4"},
		{"corrupt xz", "x.tar.xz", []byte{0xfd, '7', 'z', 'X', 'Z', 0, 0, 0}, nil, nil, "x.tar.xz"},
		{"corrupt bzip2", "x.tar.bz2", []byte("BZh91AY&SYxxxxxxx"), nil, nil, "x.tar.bz2"},
		{"empty file", "x.tar", nil, nil, ErrNotTar, "empty"},
		{"empty gzip stream", "x.tar.gz", tartest.Gzip(t, nil), nil, ErrNotTar, "empty"},
		{"not a tar", "x.tar", []byte(strings.Repeat("<html>hello</html>\n", 60)), nil, ErrNotTar, "x.tar"},
		{"truncated gzip", "x.tgz", gz[:len(gz)/2], nil, nil, "unexpected EOF"},
		{"gzip CRC mismatch", "x.tgz", badCRC, nil, nil, "checksum"},
		{"zstd cut short", "x.tar.zst", zs[:len(zs)-6], nil, nil, "x.tar.zst"},
		{"truncated tar", "x.tar", plain[:600], nil, nil, "unexpected EOF"},
		{"sha256 match", "x.tar", plain, []Option{WithSHA256(sha256Hex(plain))}, nil, ""},
		{"sha256 mismatch", "x.tar", plain, []Option{WithSHA256(strings.Repeat("ab", 32))}, ErrDigestMismatch, "sha256:" + sha256Hex(plain)},
		{"sha256 mismatch explains a broken input", "x.tgz", gz[:len(gz)/2], []Option{WithSHA256(sha256Hex(gz))}, ErrDigestMismatch, "want sha256:" + sha256Hex(gz)},
		{"size limit exactly", "x.tar", plain, []Option{WithSizeLimit(int64(len(plain)))}, nil, ""},
		{"size limit hit (bomb)", "x.tgz", tartest.Gzip(t, tartest.Bytes(t, tartest.File("zeros", strings.Repeat("\x00", 1<<20)))), []Option{WithSizeLimit(64 << 10)}, ErrSizeLimit, "65536"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tartest.TempFile(t, tc.file, tc.data)
			l, err := FromTarball(p, tc.opts...)
			require.NoError(t, err)
			_, err = l.Digest()
			if tc.wantErr == nil && tc.errHas == "" {
				require.NoError(t, err, "Digest()")
				assert.Equal(t, "f 0 644 \"hello\"\n", summary(entries(t, l)), "entries")
				check(t, l)
				return
			}
			require.ErrorContains(t, err, tc.errHas, "Digest()")
			if tc.wantErr != nil {
				assert.ErrorIs(t, err, tc.wantErr, "Digest()")
			}
			assert.ErrorContains(t, err, p, "Digest(): want the error to name the file")
		})
	}
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestTarballSpoolRemovedOnError: a failed build leaves no spool file.
func TestTarballSpoolRemovedOnError(t *testing.T) {
	tmp := t.TempDir()
	p := tartest.TempFile(t, "x.tar", tartest.Bytes(t, tartest.File("a", "x"), tartest.File("../b", "y")))
	l, err := New(context.Background(), []Source{Tarball(p)}, WithTempDir(tmp))
	require.NoError(t, err)
	_, err = l.Digest()
	require.ErrorIs(t, err, ErrEscapesRoot, "Digest()")
	ents, err := os.ReadDir(tmp)
	require.NoError(t, err)
	assert.Empty(t, ents, "temp dir after a failed build")
	// The error is kept: the second call does not rebuild.
	require.NoError(t, os.Remove(p))
	_, err = l.DiffID()
	assert.ErrorIs(t, err, ErrEscapesRoot, "DiffID() after failure")
}

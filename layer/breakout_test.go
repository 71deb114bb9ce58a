package layer_test

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/klauspost/compress/gzip"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/internal/tartest"
	"github.com/stevedore-dev/stevedore/layer"
)

// TestBreakout is the table of hostile and broken inputs (in the spirit of
// containerd's archive breakout tests). Every case states its outcome:
// either an error wrapping a sentinel of this package (or of the standard
// library, for damaged compression) whose text names the entry (or, for
// input-level damage, the tarball or URL), or a documented safe rewrite
// given as the exact list of entries the layer holds.
func TestBreakout(t *testing.T) {
	long := strings.Repeat("l", 120) + "/" + strings.Repeat("n", 130) // 251 characters
	plain := tartest.Bytes(t, tartest.File("f", "hello"))
	gz := tartest.Gzip(t, plain)
	zs := tartest.Zstd(t, plain)
	badCRC := bytes.Clone(gz)
	badCRC[len(badCRC)-8] ^= 0xff // the CRC-32 of the gzip trailer
	badISize := bytes.Clone(gz)
	badISize[len(badISize)-1] ^= 0xff // the length of the gzip trailer
	bomb := tartest.Gzip(t, tartest.Bytes(t, tartest.File("zeros", strings.Repeat("\x00", 16<<20))))

	for _, tc := range []struct {
		name string
		why  string // the rule that decides the outcome
		in   []byte // the tarball (plain, gzip or zstd)
		opts []layer.SourceOption
		// extra sources placed before the tarball in the same layer.
		before []layer.Source
		// want is the layer's entries, one per line (see bSummary), for a
		// safe rewrite; with wantErr it is empty.
		want    string
		wantErr error
		// names must all appear in the error text: the entry (quoted) or
		// the input.
		names []string
		// input makes the tarball's path part of names.
		input bool
		// anyErr: the input is refused, with an error naming it, but no
		// sentinel is promised.
		anyErr bool
	}{
		// Names that leave the root.
		{
			name: "dotdot name", why: "names leaving the root through .. are refused",
			in:      tartest.Bytes(t, tartest.File("../evil", "x")),
			wantErr: layer.ErrEscapesRoot, names: []string{`"../evil"`},
		}, {
			name: "dotdot after cleaning", why: "names are cleaned first, then checked",
			in:      tartest.Bytes(t, tartest.File("a/b/../../../evil", "x")),
			wantErr: layer.ErrEscapesRoot, names: []string{`"a/b/../../../evil"`},
		}, {
			name: "dot-slash dotdot", why: "a leading ./ does not hide ..",
			in:      tartest.Bytes(t, tartest.File("./../evil", "x")),
			wantErr: layer.ErrEscapesRoot, names: []string{`"./../evil"`},
		}, {
			name: "bare dotdot directory", why: "the parent of the root is refused",
			in:      tartest.Bytes(t, tartest.Dir("../")),
			wantErr: layer.ErrEscapesRoot, names: []string{`"../"`},
		}, {
			name: "absolute dotdot", why: "a leading / is dropped, the rest must stay inside",
			in:      tartest.Bytes(t, tartest.File("/../etc/passwd", "x")),
			wantErr: layer.ErrEscapesRoot, names: []string{`"/../etc/passwd"`},
		}, {
			name: "absolute names", why: "absolute names are taken relative to the root (documented)",
			in:   tartest.Bytes(t, tartest.File("/etc/passwd", "root"), tartest.File("//tmp//x", "y")),
			want: "etc/ 5 0755\netc/passwd 0 0644 \"root\"\ntmp/ 5 0755\ntmp/x 0 0644 \"y\"\n",
		}, {
			name: "absolute names under a root", why: "absolute names stay under WithRoot",
			in:   tartest.Bytes(t, tartest.File("/etc/passwd", "root")),
			opts: []layer.SourceOption{layer.WithRoot("/app")},
			want: "app/ 5 0755\napp/etc/ 5 0755\napp/etc/passwd 0 0644 \"root\"\n",
		}, {
			name: "escape hidden by WithRoot", why: "names are checked before WithRoot joins them: ../etc under /usr/local is not usr/etc",
			in:      tartest.Bytes(t, tartest.File("../../etc/passwd", "x")),
			opts:    []layer.SourceOption{layer.WithRoot("/usr/local")},
			wantErr: layer.ErrEscapesRoot, names: []string{`"../../etc/passwd"`},
		}, {
			name: "escape hidden by WithStripComponents", why: "names are checked before components are stripped",
			in:      tartest.Bytes(t, tartest.File("go/../../etc/passwd", "x")),
			opts:    []layer.SourceOption{layer.WithStripComponents(1), layer.WithRoot("/opt")},
			wantErr: layer.ErrEscapesRoot, names: []string{`"go/../../etc/passwd"`},
		}, {
			name: "inner dotdot that stays inside, then strip", why: "cleaned names are stripped (safe rewrite)",
			in:   tartest.Bytes(t, tartest.File("a/x/../b/c", "x")),
			opts: []layer.SourceOption{layer.WithStripComponents(2)},
			want: "c 0 0644 \"x\"\n",
		}, {
			name: "backslashes are name characters", why: "tar names are slash-separated; on Linux ..\\x is one file name inside the root",
			in:   tartest.Bytes(t, tartest.File(`..\evil`, "x")),
			want: `..\evil 0 0644 "x"` + "\n",
		},

		// Hardlinks.
		{
			name: "hardlink target dotdot", why: "hardlink targets are checked like names",
			in:      tartest.Bytes(t, tartest.Hardlink("a", "../../etc/shadow")),
			wantErr: layer.ErrEscapesRoot, names: []string{`"a"`},
		}, {
			name: "hardlink target escape hidden by strip", why: "targets are cleaned and checked before stripping",
			in:      tartest.Bytes(t, tartest.File("pkg/f", "x"), tartest.Hardlink("pkg/h", "pkg/../../etc/shadow")),
			opts:    []layer.SourceOption{layer.WithStripComponents(1)},
			wantErr: layer.ErrEscapesRoot, names: []string{`"pkg/h"`},
		}, {
			name: "hardlink to an absolute name placed earlier", why: "absolute targets are rewritten like names (safe rewrite)",
			in:   tartest.Bytes(t, tartest.File("bin/a", "x"), tartest.Hardlink("bin/b", "/bin/a")),
			opts: []layer.SourceOption{layer.WithRoot("/opt")},
			want: "opt/ 5 0755\nopt/bin/ 5 0755\nopt/bin/a 0 0644 \"x\"\nopt/bin/b 1 0644 -> opt/bin/a\n",
		}, {
			name: "hardlink to a host file", why: "a hardlink may only point at a file of the same layer",
			in:      tartest.Bytes(t, tartest.Hardlink("passwd", "/etc/passwd")),
			wantErr: layer.ErrLinkTarget, names: []string{`"passwd"`},
		}, {
			name: "hardlink to a later entry", why: "the target must be placed before the link",
			in:      tartest.Bytes(t, tartest.Hardlink("a", "b"), tartest.File("b", "x")),
			wantErr: layer.ErrLinkTarget, names: []string{`"a"`},
		}, {
			name: "hardlink to a missing entry", why: "the target must exist in the layer",
			in:      tartest.Bytes(t, tartest.File("x", "x"), tartest.Hardlink("a", "nope")),
			wantErr: layer.ErrLinkTarget, names: []string{`"a"`, `"nope"`},
		}, {
			name: "hardlink to itself", why: "a link cannot be its own target",
			in:      tartest.Bytes(t, tartest.Hardlink("a", "a")),
			wantErr: layer.ErrLinkTarget, names: []string{`"a"`},
		}, {
			name: "hardlink to a symlink", why: "only regular files are hardlink targets (documented)",
			in:      tartest.Bytes(t, tartest.Symlink("s", "/etc/passwd"), tartest.Hardlink("h", "s")),
			wantErr: layer.ErrLinkTarget, names: []string{`"h"`},
		}, {
			name: "hardlink through a symlink", why: "l/passwd is not a file of the layer: l is a symlink",
			in:      tartest.Bytes(t, tartest.Symlink("l", "/etc"), tartest.Hardlink("h", "l/passwd")),
			wantErr: layer.ErrLinkTarget, names: []string{`"h"`},
		}, {
			name: "hardlink target excluded", why: "a target left out by a filter is missing",
			in:      tartest.Bytes(t, tartest.File("secret", "x"), tartest.Hardlink("pub", "secret")),
			opts:    []layer.SourceOption{layer.WithExclude("secret")},
			wantErr: layer.ErrLinkTarget, names: []string{`"pub"`},
		},

		// Symlinks.
		{
			name: "file through an absolute symlink", why: "a -> /etc, then a/passwd would write the host's /etc/passwd on naive extraction",
			in:      tartest.Bytes(t, tartest.Symlink("a", "/etc"), tartest.File("a/passwd", "x")),
			wantErr: layer.ErrThroughSymlink, names: []string{`"a/passwd"`},
		}, {
			name: "file through a relative escaping symlink", why: "any earlier symlink in the path is refused",
			in:      tartest.Bytes(t, tartest.Symlink("a", "../../../.."), tartest.File("a/tmp/x", "x")),
			wantErr: layer.ErrThroughSymlink, names: []string{`"a/tmp/x"`},
		}, {
			name: "directory through a symlink", why: "directories too",
			in:      tartest.Bytes(t, tartest.Symlink("a", "/"), tartest.Dir("a/root/")),
			wantErr: layer.ErrThroughSymlink, names: []string{`"a/root/"`},
		}, {
			name: "directory replaced by a symlink, then a file through it", why: "the latest placement of a name decides",
			in:      tartest.Bytes(t, tartest.Dir("d/"), tartest.Symlink("d", "/etc"), tartest.File("d/passwd", "x")),
			wantErr: layer.ErrThroughSymlink, names: []string{`"d/passwd"`},
		}, {
			name: "symlink from another source, file under WithRoot through it", why: "sources of one layer share the placement checks",
			before:  []layer.Source{layer.Files([]layer.File{{Path: "/usr/local", Mode: os.ModeSymlink, Linkname: "/etc"}})},
			in:      tartest.Bytes(t, tartest.File("passwd", "x")),
			opts:    []layer.SourceOption{layer.WithRoot("/usr/local")},
			wantErr: layer.ErrThroughSymlink, names: []string{`"passwd"`, `"usr/local"`},
		}, {
			name: "symlink targets are kept as written", why: "symlinks are data: never followed, never rewritten (documented)",
			in:   tartest.Bytes(t, tartest.Symlink("l", "../../../etc/shadow"), tartest.Symlink("m", "/proc/self/root")),
			want: "l 2 0777 -> ../../../etc/shadow\nm 2 0777 -> /proc/self/root\n",
		},

		// Duplicates and replacements.
		{
			name: "duplicate file", why: "written once: the last wins, as extraction would have it",
			in:   tartest.Bytes(t, tartest.File("f", "one"), tartest.File("f", "two")),
			want: "f 0 0644 \"two\"\n",
		}, {
			name: "duplicate directory", why: "written once, in the first place, with the last header",
			in:   tartest.Bytes(t, tartest.Dir("d/").WithMode(0o700), tartest.Dir("d/").WithMode(0o777), tartest.File("d/f", "x")),
			want: "d/ 5 0777\nd/f 0 0644 \"x\"\n",
		}, {
			name: "directory replaced by a file", why: "the file replaces the directory, as extraction would have it",
			in:   tartest.Bytes(t, tartest.Dir("d/"), tartest.File("d", "x")),
			want: "d 0 0644 \"x\"\n",
		}, {
			name: "file under a file", why: "an entry under a non-directory is refused",
			in:      tartest.Bytes(t, tartest.Dir("d/"), tartest.File("d", "x"), tartest.File("d/y", "y")),
			wantErr: layer.ErrNotDir, names: []string{`"d/y"`},
		},

		// Special files.
		{
			name: "device nodes and fifos are kept", why: "char, block and fifo entries are kept (documented)",
			in: tartest.Bytes(t, tartest.Entry{Header: tar.Header{Typeflag: tar.TypeChar, Name: "dev/null", Mode: 0o666, Devmajor: 1, Devminor: 3}},
				tartest.Entry{Header: tar.Header{Typeflag: tar.TypeBlock, Name: "dev/sda", Mode: 0o660, Devmajor: 8}},
				tartest.Entry{Header: tar.Header{Typeflag: tar.TypeFifo, Name: "run/fifo", Mode: 0o600}}),
			want: "dev/ 5 0755\ndev/null 3 0666 1,3\ndev/sda 4 0660 8,0\nrun/ 5 0755\nrun/fifo 6 0600\n",
		}, {
			name: "unknown entry type", why: "types that cannot be placed are refused",
			in:      tartest.Bytes(t, tartest.Entry{Header: tar.Header{Typeflag: 'Z', Name: "weird", Mode: 0o644}}),
			wantErr: layer.ErrUnsupportedEntry, names: []string{`"weird"`},
		}, {
			name: "file named like the root", why: "a non-directory cannot be the root",
			in:      tartest.Raw(tartest.RawFile("./", tar.TypeReg, []byte("x"))),
			wantErr: layer.ErrUnsupportedEntry, names: []string{`"./"`},
		},

		// PAX, GNU and sparse headers.
		{
			name: "PAX path record escaping", why: "a PAX path overrides the header name and is checked the same",
			in:      slices.Concat(tartest.RawFile("PaxHeaders/innocent", tar.TypeXHeader, []byte(tartest.PAXRecord("path", "../../evil"))), tartest.Bytes(t, tartest.File("innocent", "x"))),
			wantErr: layer.ErrEscapesRoot, names: []string{`"../../evil"`},
		}, {
			name: "PAX linkpath record escaping", why: "so does a PAX linkpath of a hardlink",
			in:      slices.Concat(tartest.RawFile("PaxHeaders/h", tar.TypeXHeader, []byte(tartest.PAXRecord("linkpath", "../../../etc/shadow"))), tartest.Bytes(t, tartest.Hardlink("h", "innocent"))),
			wantErr: layer.ErrEscapesRoot, names: []string{`"h"`},
		}, {
			name: "PAX header too large", why: "archive/tar refuses PAX headers over 1 MiB; the error names the input",
			in:      tartest.Raw(tartest.RawFile("PaxHeaders/big", tar.TypeXHeader, []byte(tartest.PAXRecord("comment", strings.Repeat("x", 1<<20+100)))), tartest.RawFile("big", tar.TypeReg, []byte("x"))),
			wantErr: tar.ErrFieldTooLong, input: true,
		}, {
			name: "PAX record with a bad length", why: "malformed records are a header error naming the input",
			in:      slices.Concat(tartest.RawFile("PaxHeaders/x", tar.TypeXHeader, []byte("99999 path=x\n")), tartest.Bytes(t, tartest.File("x", "x"))),
			wantErr: tar.ErrHeader, input: true,
		}, {
			name: "PAX size record far beyond the data", why: "content cut short is an error naming the entry",
			in:      slices.Concat(tartest.RawFile("PaxHeaders/f", tar.TypeXHeader, []byte(tartest.PAXRecord("size", "1099511627776"))), tartest.RawFile("f", tar.TypeReg, []byte("short"))),
			wantErr: io.ErrUnexpectedEOF, names: []string{`"f"`},
		}, {
			name: "PAX size record beyond the size limit", why: "WithSizeLimit counts header sizes before reading",
			in:      slices.Concat(tartest.RawFile("PaxHeaders/f", tar.TypeXHeader, []byte(tartest.PAXRecord("size", "1099511627776"))), tartest.RawFile("f", tar.TypeReg, []byte("short"))),
			opts:    []layer.SourceOption{layer.WithSizeLimit(1 << 20)},
			wantErr: layer.ErrSizeLimit, names: []string{`"f"`},
		}, {
			name: "PAX path record with NUL", why: "archive/tar refuses NUL in PAX paths: a header error naming the input",
			in:      slices.Concat(tartest.RawFile("PaxHeaders/x", tar.TypeXHeader, []byte(tartest.PAXRecord("path", "etc\x00passwd"))), tartest.Bytes(t, tartest.File("x", "x"))),
			wantErr: tar.ErrHeader, input: true,
		}, {
			name: "PAX negative size", why: "a negative size is a header error naming the input",
			in:      slices.Concat(tartest.RawFile("PaxHeaders/x", tar.TypeXHeader, []byte(tartest.PAXRecord("size", "-5"))), tartest.Bytes(t, tartest.File("x", "x"))),
			wantErr: tar.ErrHeader, input: true,
		}, {
			name: "PAX linkpath on a symlink", why: "symlink targets are data, kept as written, never followed",
			in:   slices.Concat(tartest.RawFile("PaxHeaders/x", tar.TypeXHeader, []byte(tartest.PAXRecord("linkpath", "/etc/shadow"))), tartest.Bytes(t, tartest.Symlink("x", "y"))),
			want: "x 2 0777 -> /etc/shadow\n",
		}, {
			name: "sparse map beyond the file", why: "a sparse map past the logical size is a header error",
			in:      tartest.Raw(tartest.GNUSparse(t, "s", 4, [][2]int64{{10, 2}}, "ab")),
			wantErr: tar.ErrHeader, input: true,
		}, {
			name: "whiteouts in a tarball source", why: "a tarball that is already a layer keeps its whiteouts; under WithRoot they act only below the root",
			in:   tartest.Bytes(t, tartest.Whiteout("old"), tartest.Opaque("x")),
			opts: []layer.SourceOption{layer.WithRoot("/usr/local")},
			want: "usr/ 5 0755\nusr/local/ 5 0755\nusr/local/.wh.old 0 0644 \"\"\nusr/local/x/ 5 0755\nusr/local/x/.wh..wh..opq 0 0644 \"\"\n",
		}, {
			name: "GNU long name", why: "GNU long names are read and written back (as PAX)",
			in:   tartest.Bytes(t, tartest.File(long, "x").WithFormat(tar.FormatGNU)),
			want: strings.Repeat("l", 120) + "/ 5 0755\n" + long + " 0 0644 \"x\"\n",
		}, {
			name: "GNU long name escaping", why: "a long name is checked like any other",
			in:      tartest.Bytes(t, tartest.File(strings.Repeat("a/", 60)+strings.Repeat("../", 61)+"evil", "x").WithFormat(tar.FormatGNU)),
			wantErr: layer.ErrEscapesRoot, names: []string{"evil\""},
		}, {
			name: "GNU sparse file", why: "sparse files are written as regular files with their holes (documented)",
			in:   tartest.Raw(tartest.GNUSparse(t, "sparse", 12, [][2]int64{{0, 2}, {10, 2}}, "abcd")),
			want: "sparse 0 0644 \"ab\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00cd\"\n",
		}, {
			name: "GNU sparse file expanding past the size limit", why: "sparse holes count against WithSizeLimit",
			in:      tartest.Raw(tartest.GNUSparse(t, "holes", 1<<32, [][2]int64{{0, 2}, {1<<32 - 2, 2}}, "abcd")),
			opts:    []layer.SourceOption{layer.WithSizeLimit(1 << 20)},
			wantErr: layer.ErrSizeLimit, names: []string{`"holes"`},
		},

		// Damaged or unexpected inputs.
		{
			name: "truncated gzip", why: "a cut gzip stream is an error naming the input",
			in: gz[:len(gz)/2], wantErr: io.ErrUnexpectedEOF, input: true,
		}, {
			name: "gzip trailer CRC mismatch", why: "the gzip trailer is checked",
			in: badCRC, wantErr: gzip.ErrChecksum, input: true,
		}, {
			name: "gzip trailer length mismatch", why: "the gzip trailer is checked",
			in: badISize, wantErr: gzip.ErrChecksum, input: true,
		}, {
			name: "zstd frame cut short", why: "a cut zstd frame is an error naming the input",
			in: zs[:len(zs)-5], wantErr: io.ErrUnexpectedEOF, input: true,
		}, {
			name: "tar cut inside an entry", why: "a cut tar stream is an error naming the input",
			in: plain[:700], wantErr: io.ErrUnexpectedEOF, input: true,
		}, {
			name: "tar cut inside padding", why: "archive/tar calls this a clean end; the layer package does not",
			in: plain[:520], wantErr: io.ErrUnexpectedEOF, input: true,
		}, {
			name: "trailing garbage after the tar footer", why: "ignored, as tar does (documented)",
			in:   append(bytes.Clone(plain), "trailing garbage"...),
			want: "f 0 0644 \"hello\"\n",
		}, {
			name: "two gzip members", why: "concatenated gzip members are one stream (RFC 1952); data after the tar footer is ignored",
			in:   append(bytes.Clone(gz), tartest.Gzip(t, []byte("second member"))...),
			want: "f 0 0644 \"hello\"\n",
		}, {
			name: "gzip padded with zeros", why: "zero padding after the gzip stream (tape blocking, dd) is ignored, as gzip(1) and tar do",
			in:   append(bytes.Clone(gz), make([]byte, 1536)...),
			want: "f 0 0644 \"hello\"\n",
		}, {
			name: "gzip followed by garbage", why: "non-zero bytes after the gzip stream are refused",
			in: append(bytes.Clone(gz), "garbage"...), anyErr: true, input: true,
		}, {
			name: "zstd followed by zeros", why: "bytes after the zstd frame that are not a frame are refused, as zstd(1) does",
			in: append(bytes.Clone(zs), make([]byte, 64)...), anyErr: true, input: true,
		}, {
			name: "empty file", why: "empty input is not a tar",
			in: nil, wantErr: layer.ErrNotTar, input: true,
		}, {
			name: "tar of only the footer", why: "a valid empty archive makes an empty layer",
			in:   make([]byte, 1024),
			want: "",
		}, {
			name: "not a tar", why: "text is not a tar",
			in:      []byte(strings.Repeat("#!/bin/sh\necho this is a script, not an archive\n", 20)),
			wantErr: layer.ErrNotTar, input: true,
		}, {
			name: "short non-tar", why: "input shorter than one tar block is not a tar",
			in:      []byte("<html>login</html>\n"),
			wantErr: layer.ErrNotTar, input: true,
		}, {
			name: "one zero block", why: "a lone zero block is an empty archive (GNU tar warns and accepts)",
			in:   make([]byte, 512),
			want: "",
		}, {
			name: "lz4 is refused by name", why: "formats not read are named",
			in:      []byte{0x04, 0x22, 0x4d, 0x18, 0, 0, 0, 0, 0, 0},
			wantErr: layer.ErrUnsupportedCompression, names: []string{"lz4"}, input: true,
		}, {
			name: "decompression bomb", why: "16 MiB of zeros from a few KiB of gzip trips WithSizeLimit",
			in: bomb, opts: []layer.SourceOption{layer.WithSizeLimit(1 << 20)},
			wantErr: layer.ErrSizeLimit, input: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "in.tar")
			require.NoError(t, os.WriteFile(p, tc.in, 0o644))
			srcs := append(append([]layer.Source{}, tc.before...), layer.Tarball(p, tc.opts...))
			l, err := layer.New(context.Background(), srcs, layer.WithTempDir(t.TempDir()))
			require.NoError(t, err, "layer.New(%s)", tc.name)
			_, err = l.Digest()
			if tc.anyErr {
				require.ErrorContains(t, err, p, "Digest(): want an error naming the tarball (%s)", tc.why)
				return
			}
			if tc.wantErr != nil {
				names := tc.names
				if tc.input {
					names = append(names, p)
				}
				bCheckErr(t, "Digest()", err, tc.wantErr, names)
				return
			}
			require.NoError(t, err, "Digest(): want a layer (%s)", tc.why)
			assert.Equal(t, tc.want, bSummary(t, l), "entries of %s (%s)", tc.name, tc.why)
			assert.NoError(t, validate.Layer(l), "validate.Layer")
		})
	}
}

// TestBreakoutURL: downloads that are not what they claim.
func TestBreakoutURL(t *testing.T) {
	tgz := tartest.Gzip(t, tartest.Bytes(t, tartest.File("f", strings.Repeat("data", 4096))))
	mux := http.NewServeMux()
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, "<!doctype html><html><body><form>Sign in</form></body></html>\n")
	})
	mux.HandleFunc("/half.tgz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(tgz)))
		w.Write(tgz[:len(tgz)/2])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	})
	mux.HandleFunc("/gone.tgz", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "gone", http.StatusGone) })
	mux.HandleFunc("/bomb.tgz", func(w http.ResponseWriter, r *http.Request) {
		w.Write(tartest.Gzip(t, tartest.Bytes(t, tartest.File("zeros", strings.Repeat("\x00", 8<<20)))))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, tc := range []struct {
		path    string
		opts    []layer.Option
		wantErr error
		names   []string
	}{
		{"/login", nil, layer.ErrNotTar, []string{"/login", "text/html"}},
		{"/half.tgz", nil, io.ErrUnexpectedEOF, []string{"/half.tgz"}},
		{"/gone.tgz", nil, layer.ErrHTTPStatus, []string{"/gone.tgz", "410"}},
		{"/bomb.tgz", []layer.Option{layer.WithSizeLimit(1 << 20)}, layer.ErrSizeLimit, []string{"/bomb.tgz"}},
	} {
		t.Run(tc.path, func(t *testing.T) {
			// With credentials in the URL: they must not show in the error.
			u := strings.Replace(srv.URL, "http://", "http://bob:url-Pw-4c1e@", 1) + tc.path
			l, err := layer.FromURL(context.Background(), u, append(tc.opts, layer.WithTempDir(t.TempDir()))...)
			require.NoError(t, err)
			_, err = l.Digest()
			bCheckErr(t, "Digest()", err, tc.wantErr, tc.names)
			if err != nil {
				assert.NotContains(t, err.Error(), "url-Pw-4c1e", "Digest(): the error shows the URL's password")
			}
		})
	}
}

// TestBreakoutDir: directory sources never follow a symlink out of the
// directory: symlinks are kept as symlinks, and filters or WithOnly naming
// a path through one find nothing there.
func TestBreakoutDir(t *testing.T) {
	outside := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(outside, "secret"), []byte("host secret"), 0o600))
	src := t.TempDir()
	require.NoError(t, os.Symlink(outside, filepath.Join(src, "out")))
	require.NoError(t, os.Symlink("../../../../../../../../etc", filepath.Join(src, "etc")))
	for _, tc := range []struct {
		name string
		opts []layer.Option
		want string // "" : the filter matches nothing, an error naming it
	}{
		{"symlinks kept, not followed", nil, "etc 2 0777 -> ../../../../../../../../etc\nout 2 0777 -> " + outside + "\n"},
		{"WithOnly through a symlink finds nothing", []layer.Option{layer.WithOnly("out/secret")}, ""},
		{"WithInclude through a symlink finds nothing", []layer.Option{layer.WithInclude("out/**", "etc/passwd")}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := layer.FromDir(src, append(tc.opts, layer.WithTempDir(t.TempDir()))...)
			require.NoError(t, err)
			if tc.want == "" {
				_, err := l.Digest()
				require.ErrorIs(t, err, layer.ErrNoMatch, "Digest()")
				assert.NotContains(t, err.Error(), outside, "the error must not follow the symlink")
				return
			}
			assert.Equal(t, tc.want, bSummary(t, l), "entries")
			assert.NoError(t, validate.Layer(l), "validate.Layer")
		})
	}
}

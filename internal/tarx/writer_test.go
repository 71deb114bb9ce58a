package tarx

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var epoch = time.Unix(0, 0)

// in is one input of a writer test: an entry, or a whiteout registered
// before the entries.
type in struct {
	h       *tar.Header
	body    string
	weak    bool
	deleted string // a whiteout to register: deletion of this name
	opaque  string // a whiteout to register: this directory opaque
}

func reg(name, body string) in {
	return in{h: &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(body)), ModTime: epoch}, body: body}
}

func dir(name string, mode int64) in {
	return in{h: &tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode, ModTime: epoch}}
}

func symlink(name, target string) in {
	return in{h: &tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777, ModTime: epoch}}
}

func hardlink(name, target string) in {
	return in{h: &tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target, Mode: 0o644, ModTime: epoch}}
}

// below is a tree for Options.Below, from nodes.
func below(nodes ...Node) Lookup {
	m := map[string]Node{}
	for _, n := range nodes {
		m[n.Name] = n
	}
	return func(name string) (Node, bool) { n, ok := m[name]; return n, ok }
}

func bdir(name string, mode int64) Node { return Node{Name: name, Type: tar.TypeDir, Mode: mode} }
func blink(name, target string) Node {
	return Node{Name: name, Type: tar.TypeSymlink, Mode: 0o777, Linkname: target}
}
func bfile(name, body string) Node {
	s := sha256.Sum256([]byte(body))
	return Node{Name: name, Type: tar.TypeReg, Mode: 0o644, Size: int64(len(body)), Digest: "sha256:" + hex.EncodeToString(s[:])}
}

// pass writes ins through one Writer, as package layer does: whiteouts
// registered first, then every entry.
func pass(t *testing.T, ins []in, o Options) (*Writer, []byte, error) {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf, o)
	for _, i := range ins {
		switch {
		case i.deleted != "":
			if err := w.Whiteout(i.deleted, false, epoch); err != nil {
				return w, nil, err
			}
		case i.opaque != "":
			if err := w.Whiteout(i.opaque, true, epoch); err != nil {
				return w, nil, err
			}
		}
	}
	for _, i := range ins {
		if i.h == nil {
			continue
		}
		h := *i.h
		body := i.body
		e := Entry{Header: &h, Source: h.Name, ParentModTime: epoch, Weak: i.weak, Reopen: true,
			Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil }}
		if err := w.Place(e); err != nil {
			return w, nil, err
		}
	}
	err := w.Close()
	return w, buf.Bytes(), err
}

// write runs the passes a layer needs: one, or three at most.
func write(t *testing.T, ins []in, o Options) (string, int, error) {
	t.Helper()
	w, out, err := pass(t, ins, o)
	if err != nil || !w.NeedsPlan() {
		return summary(t, out), 1, err
	}
	passes := 2
	plan := w.Plan()
	if w.Stale() {
		c := o
		c.Plan, c.Collect = plan, true
		cw, _, err := pass(t, ins, c)
		if err != nil {
			return "", 2, err
		}
		plan, passes = cw.Plan(), 3
	}
	o.Plan = plan
	w, out, err = pass(t, ins, o)
	require.False(t, w.NeedsPlan(), "the pass with a plan needs a plan")
	return summary(t, out), passes, err
}

// summary lists a tar's entries, one a line: name, type, mode (octal),
// and the content or link target.
func summary(t *testing.T, b []byte) string {
	t.Helper()
	var sb strings.Builder
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		fmt.Fprintf(&sb, "%s %c %o", h.Name, h.Typeflag, h.Mode)
		switch h.Typeflag {
		case tar.TypeSymlink, tar.TypeLink:
			fmt.Fprintf(&sb, " -> %s", h.Linkname)
		case tar.TypeReg:
			if h.Size > 0 {
				c, _ := io.ReadAll(tr)
				fmt.Fprintf(&sb, " %q", c)
			}
		}
		sb.WriteByte('\n')
	}
	return sb.String()
}

func TestWriter(t *testing.T) {
	mergedUsr := below(bdir("usr", 0o755), bdir("usr/lib", 0o755), bdir("usr/bin", 0o755), blink("lib", "usr/lib"),
		blink("bin", "usr/bin"), bdir("run", 0o755), bdir("var", 0o755), blink("var/run", "/run"),
		bdir("tmp", 0o1777), bdir("opt", 0o700), bdir("deldir", 0o755), bfile("deldir/old", "old"))
	for _, tc := range []struct {
		name, why string
		below     Lookup
		skip      bool
		full      []string // Options.FullPath
		ins       []in
		want      string
		passes    int
	}{{
		name: "parents emitted once", why: "a layer on nothing carries every parent, 0755",
		ins:  []in{reg("a/b/c", "1"), reg("a/b/d", "2"), reg("a/e", "3")},
		want: "a/ 5 755\na/b/ 5 755\na/b/c 0 644 \"1\"\na/b/d 0 644 \"2\"\na/e 0 644 \"3\"\n",
	}, {
		name: "parents the base has are left to it", why: "the base's 1777 /tmp and 0700 /opt stay so",
		below: mergedUsr,
		ins:   []in{reg("tmp/cache/x", "1"), reg("opt/y", "2")},
		want:  "tmp/cache/ 5 755\ntmp/cache/x 0 644 \"1\"\nopt/y 0 644 \"2\"\n",
	}, {
		name: "full paths carry the base's parents", why: "as the base has them: 0700 /opt, not 0755; the others stay left to the base",
		below: mergedUsr, full: []string{"opt/y"},
		ins:  []in{reg("opt/a", "1"), reg("tmp/cache/x", "2"), reg("opt/y", "3")},
		want: "opt/a 0 644 \"1\"\ntmp/cache/ 5 755\ntmp/cache/x 0 644 \"2\"\nopt/ 5 700\nopt/y 0 644 \"3\"\n",
	}, {
		name: "a parent symlinked in the base is followed", why: "/lib -> usr/lib: the file lands in usr/lib, the link survives",
		below: mergedUsr,
		ins:   []in{reg("lib/extra.so", "so"), reg("bin/tool", "t")},
		want:  "usr/lib/extra.so 0 644 \"so\"\nusr/bin/tool 0 644 \"t\"\n",
	}, {
		name: "an absolute symlink is taken from the image root", why: "/var/run -> /run",
		below: mergedUsr,
		ins:   []in{reg("var/run/app.pid", "1")},
		want:  "run/app.pid 0 644 \"1\"\n",
	}, {
		name: "a directory entry at a symlink goes to its target", why: "COPY of a lib/ directory fills usr/lib",
		below: mergedUsr,
		ins:   []in{dir("lib", 0o755), reg("lib/x.so", "x")},
		want:  "usr/lib/ 5 755\nusr/lib/x.so 0 644 \"x\"\n",
	}, {
		name: "a file replaces a symlink of the base", why: "the last element of a non-directory is not followed",
		below: mergedUsr,
		ins:   []in{reg("lib", "file")},
		want:  "lib 0 644 \"file\"\n",
	}, {
		name: "symlinks in a chain", why: "each link is followed in turn",
		below: below(blink("a", "b"), blink("b", "c"), bdir("c", 0o755)),
		ins:   []in{reg("a/x", "x")},
		want:  "c/x 0 644 \"x\"\n",
	}, {
		name: "deleted then re-created", why: "the whiteout comes first; the directory is new, not the base's",
		below: mergedUsr,
		ins:   []in{{deleted: "deldir"}, reg("deldir/f", "new")},
		want:  ".wh.deldir 0 644\ndeldir/ 5 755\ndeldir/f 0 644 \"new\"\n",
	}, {
		name: "a deleted symlink is not followed", why: "after .wh.lib, lib is a new directory",
		below: mergedUsr,
		ins:   []in{{deleted: "lib"}, reg("lib/x", "x")},
		want:  ".wh.lib 0 644\nlib/ 5 755\nlib/x 0 644 \"x\"\n",
	}, {
		name: "a deletion under a symlink deletes the file where it is", why: "lib/x is usr/lib/x",
		below: mergedUsr,
		ins:   []in{{deleted: "lib/x"}},
		want:  "usr/lib/.wh.x 0 644\n",
	}, {
		name: "opaque keeps the directory's own header", why: "the marker comes after the directory, before its children",
		ins:  []in{{opaque: "opq"}, dir("opq", 0o700), reg("opq/x", "x")},
		want: "opq/ 5 700\nopq/.wh..wh..opq 0 644\nopq/x 0 644 \"x\"\n",
	}, {
		name: "opaque alone on a base that has the directory", why: "the directory is the base's",
		below: below(bdir("opq", 0o711)),
		ins:   []in{{opaque: "opq"}},
		want:  "opq/.wh..wh..opq 0 644\n",
	}, {
		name: "a duplicate file is written once", why: "the last wins, as extraction would have it",
		ins:    []in{reg("f", "one"), reg("g", "g"), reg("f", "two")},
		want:   "g 0 644 \"g\"\nf 0 644 \"two\"\n",
		passes: 2,
	}, {
		name: "a duplicate directory keeps its place with the last header", why: "parents come before children",
		ins:    []in{dir("d", 0o700), reg("d/f", "x"), dir("d", 0o750)},
		want:   "d/ 5 750\nd/f 0 644 \"x\"\n",
		passes: 2,
	}, {
		name: "the same directory twice needs no plan", why: "equal headers",
		ins:  []in{dir("d", 0o755), reg("d/f", "x"), dir("d", 0o755)},
		want: "d/ 5 755\nd/f 0 644 \"x\"\n",
	}, {
		name: "an explicit directory after its synthesized parent", why: "its header replaces the synthesized one, in the parent's place",
		ins:    []in{reg("d/f", "x"), dir("d", 0o700)},
		want:   "d/ 5 700\nd/f 0 644 \"x\"\n",
		passes: 2,
	}, {
		name: "a directory replaced by a file drops what was under it", why: "extraction removes the directory",
		ins:    []in{dir("d", 0o755), reg("d/f", "x"), reg("d", "file")},
		want:   "d 0 644 \"file\"\n",
		passes: 2,
	}, {
		name: "a source's root directory on the base's directory", why: "copying into /tmp does not change /tmp",
		below: mergedUsr,
		ins:   []in{{h: dir("tmp", 0o755).h, weak: true}, reg("tmp/x", "x")},
		want:  "tmp/x 0 644 \"x\"\n",
	}, {
		name: "a directory the source holds is written as it has it", why: "as COPY writes it: 0755 over the base's 1777 /tmp",
		below: mergedUsr,
		ins:   []in{dir("tmp", 0o755), reg("tmp/x", "x")},
		want:  "tmp/ 5 755\ntmp/x 0 644 \"x\"\n",
	}, {
		name: "a source's root directory without a base", why: "it is the directory's only header",
		ins:  []in{{h: dir("app", 0o700).h, weak: true}, reg("app/x", "x")},
		want: "app/ 5 700\napp/x 0 644 \"x\"\n",
	}, {
		name: "a whiteout after its siblings", why: "a second pass writes it first",
		ins:    []in{reg("a/x", "x"), reg("a/.wh.y", "")},
		want:   "a/ 5 755\na/.wh.y 0 644\na/x 0 644 \"x\"\n",
		passes: 2,
	}, {
		name: "a late whiteout that changes what came before", why: "a collecting pass learns the plan again",
		below: mergedUsr,
		ins:   []in{reg("lib/x", "x"), reg(".wh.lib", "")},
		want:  ".wh.lib 0 644\nlib/ 5 755\nlib/x 0 644 \"x\"\n", passes: 3,
	}, {
		name: "whiteouts of a stream in order", why: "one pass when they come first",
		ins:  []in{reg(".wh.gone", ""), reg("a/.wh..wh..opq", ""), reg("a/x", "x")},
		want: ".wh.gone 0 644\na/ 5 755\na/.wh..wh..opq 0 644\na/x 0 644 \"x\"\n",
	}, {
		name: "a hardlink's target follows the base's symlinks", why: "it must name where the file landed",
		below: mergedUsr,
		ins:   []in{reg("lib/a", "a"), hardlink("lib/b", "lib/a")},
		want:  "usr/lib/a 0 644 \"a\"\nusr/lib/b 1 644 -> usr/lib/a\n",
	}, {
		name: "unchanged entries are left out", why: "same content, mode and owner as the base",
		below: below(bfile("same", "s"), bfile("other", "o"), bdir("d", 0o755), blink("l", "same"), bdir("e", 0o700)),
		skip:  true,
		ins:   []in{reg("same", "s"), reg("other", "changed"), dir("d", 0o755), symlink("l", "same"), dir("e", 0o755), reg("new", "n")},
		want:  "other 0 644 \"changed\"\ne/ 5 755\nnew 0 644 \"n\"\n",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			o := Options{Below: tc.below, SkipUnchanged: tc.skip, TempDir: t.TempDir()}
			if tc.full != nil {
				o.FullPath = map[string]bool{}
				for _, n := range tc.full {
					o.FullPath[n] = true
				}
			}
			got, passes, err := write(t, tc.ins, o)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got, "entries (%s)", tc.why)
			want := max(tc.passes, 1)
			assert.Equal(t, want, passes, "passes")
		})
	}
}

func TestWriterErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		below Lookup
		ins   []in
		want  error
	}{
		{"empty name", nil, []in{reg("", "x")}, ErrEscapesRoot},
		{"dotdot", nil, []in{reg("../x", "x")}, ErrEscapesRoot},
		{"through a symlink of the layer", nil, []in{symlink("s", "/"), reg("s/x", "x")}, ErrThroughSymlink},
		{"under a file", nil, []in{reg("f", "x"), reg("f/x", "x")}, ErrNotDir},
		{"hardlink to itself", nil, []in{hardlink("h", "h")}, ErrLinkTarget},
		{"hardlink to nothing", nil, []in{hardlink("h", "nothing")}, ErrLinkTarget},
		{"hardlink to a file replaced later", nil, []in{reg("a", "1"), hardlink("b", "a"), reg("a", "2")}, ErrLinkTarget},
		{"base symlink loop", below(blink("a", "b"), blink("b", "a")), []in{reg("a/x", "x")}, ErrBaseLink},
		{"base symlink leaving the root", below(blink("lib", "../../../x")), []in{reg("lib/x", "x")}, ErrBaseLink},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := write(t, tc.ins, Options{Below: tc.below})
			require.ErrorIs(t, err, tc.want)
		})
	}
}

// TestWriterFiles: Files lists what the layer holds, as written.
func TestWriterFiles(t *testing.T) {
	w, _, err := pass(t, []in{{deleted: "old"}, reg("a/b", "xy"), symlink("a/l", "b")}, Options{})
	require.NoError(t, err)
	var got []string
	for _, n := range w.Files() {
		got = append(got, fmt.Sprintf("%s %c %o %d %s", n.Name, n.Type, n.Mode, n.Size, n.Linkname))
	}
	assert.Equal(t, []string{".wh.old 0 644 0 ", "a 5 755 0 ", "a/b 0 644 2 ", "a/l 2 777 0 b"}, got)
}

// TestHugeEntry: an entry over 8 GiB (ustar's size limit) is written with
// its real size in the header, from a sparse file on disk.
func TestHugeEntry(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 8 GiB")
	}
	const size = 8<<30 + 1
	p := filepath.Join(t.TempDir(), "huge")
	f, err := os.Create(p)
	require.NoError(t, err)
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Skipf("sparse file: %v", err)
	}
	var hw headWriter
	w := NewWriter(&hw, Options{})
	r := &Rules{Root: "data"}
	out, err := r.Rewrite(&tar.Header{Typeflag: tar.TypeReg, Name: "huge", Size: size, Mode: 0o644})
	require.NoError(t, err)
	require.NoError(t, w.Place(Entry{Header: out, Source: "huge", Open: func() (io.ReadCloser, error) { return f, nil }}), "Place(8 GiB + 1)")
	require.NoError(t, w.Close())
	tr := tar.NewReader(&hw.head)
	_, err = tr.Next() // data/
	require.NoError(t, err)
	h, err := tr.Next()
	require.NoError(t, err)
	assert.Equal(t, "data/huge", h.Name)
	assert.Equal(t, int64(size), h.Size)
	assert.GreaterOrEqual(t, hw.n, int64(size), "stream size")
	assert.LessOrEqual(t, hw.n, int64(size+8192), "stream size")
}

// headWriter keeps the first bytes written and counts the rest.
type headWriter struct {
	head bytes.Buffer
	n    int64
}

func (w *headWriter) Write(p []byte) (int, error) {
	if room := 64<<10 - w.head.Len(); room > 0 {
		w.head.Write(p[:min(room, len(p))])
	}
	w.n += int64(len(p))
	return len(p), nil
}

// TestWriterBinaries: the Go executables among the entries are found as
// they are written, with their build information and digest.
func TestWriterBinaries(t *testing.T) {
	exe, err := os.Executable()
	require.NoError(t, err)
	want, err := buildinfo.ReadFile(exe)
	require.NoError(t, err)
	bin, err := os.ReadFile(exe)
	require.NoError(t, err)
	sum := sha256.Sum256(bin)
	w, _, err := pass(t, []in{reg("app/tool", string(bin)), reg("app/readme", "not a binary")}, Options{})
	require.NoError(t, err)
	require.Len(t, w.Binaries(), 1)
	got := w.Binaries()[0]
	assert.Equal(t, "app/tool", got.Name)
	assert.Equal(t, "sha256:"+hex.EncodeToString(sum[:]), got.Digest)
	assert.Equal(t, want.String(), got.Info.String(), "build info, as debug/buildinfo reads it")
}

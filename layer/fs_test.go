package layer

import (
	"embed"
	"io/fs"
	"os"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

//go:embed testdata/embed
var embedded embed.FS

// noLinkFS hides fs.ReadLinkFS.
type noLinkFS struct{ fs.FS }

func TestFS(t *testing.T) {
	mapfs := fstest.MapFS{
		"bin/tool":     {Data: []byte("tool"), Mode: 0o755},
		"etc/conf":     {Data: []byte("c")},
		"etc/link":     {Data: []byte("conf"), Mode: fs.ModeSymlink | 0o777},
		"var/empty":    {Mode: fs.ModeDir | 0o750},
		"setuid":       {Data: []byte("s"), Mode: fs.ModeSetuid | 0o755},
		"ignored.tmp":  {Data: []byte("t")},
		"time/changes": {Data: []byte("m"), ModTime: time.Unix(99999, 0)},
	}
	dir := t.TempDir()
	tree(t, dir, "a/b", "l -> a/b")
	for _, tc := range []struct {
		name string
		fsys fs.FS
		opts []Option
		want string
	}{{
		name: "MapFS with a symlink, modes, a filter and a root",
		fsys: mapfs,
		opts: []Option{WithExclude("*.tmp"), WithRoot("/opt")},
		want: "opt/ 5 755\nopt/bin/ 5 555\nopt/bin/tool 0 755 \"tool\"\nopt/etc/ 5 555\nopt/etc/conf 0 644 \"c\"\nopt/etc/link 2 777 -> conf\nopt/setuid 0 4755 \"s\"\nopt/time/ 5 555\nopt/time/changes 0 644 \"m\"\nopt/var/ 5 555\nopt/var/empty/ 5 750\n",
	}, {
		name: "embed.FS",
		fsys: embedded,
		opts: []Option{WithStripComponents(2), WithRoot("/www")},
		want: "www/ 5 755\nwww/hello.txt 0 444 \"hello\\n\"\nwww/sub/ 5 555\nwww/sub/x.txt 0 444 \"x\\n\"\n",
	}, {
		name: "os.DirFS keeps symlinks",
		fsys: os.DirFS(dir),
		want: "a/ 5 755\na/b 0 644 \"b\"\nl 2 777 -> a/b\n",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := FromFS(tc.fsys, tc.opts...)
			require.NoError(t, err, "FromFS()")
			gs := entries(t, l)
			assert.Equal(t, tc.want, summary(gs), "FromFS entries")
			for _, g := range gs {
				assert.Zero(t, g.MTime, "mtime of %s: fs mtimes are replaced", g.Name)
			}
			check(t, l)
		})
	}
	l, err := FromFS(noLinkFS{mapfs})
	require.NoError(t, err, "FromFS(fs without ReadLinkFS)")
	_, err = l.Digest()
	assert.ErrorContains(t, err, `"etc/link"`, "FromFS(fs without ReadLinkFS).Digest()")
	assert.ErrorContains(t, err, "ReadLinkFS", "FromFS(fs without ReadLinkFS).Digest()")
	_, err = FromFS(nil)
	assert.ErrorIs(t, err, ErrOption, "FromFS(nil)")
}

func TestFiles(t *testing.T) {
	files := []File{
		{Path: "b/second", Data: []byte("2")},
		{Path: "/a/first", Data: []byte("1"), Mode: 0o600 | fs.ModeSetgid},
		{Path: "b/second", Data: []byte("2 again")},
		{Path: "c", Mode: fs.ModeDir},
		{Path: "./d/link", Mode: fs.ModeSymlink, Linkname: "../a/first"},
		{Path: "e", Data: []byte("t"), ModTime: time.Unix(1000, 0)},
	}
	l, err := FromFiles(files, WithRoot("/x"), WithOwner(7, 8))
	require.NoError(t, err)
	want := "x/ 5 755\nx/a/ 5 755\nx/a/first 0 2600 \"1\"\nx/b/ 5 755\nx/b/second 0 644 \"2 again\"\nx/c/ 5 755\nx/d/ 5 755\nx/d/link 2 777 -> ../a/first\nx/e 0 644 \"t\"\n"
	gs := entries(t, l)
	assert.Equal(t, want, summary(gs), "FromFiles entries")
	for _, g := range gs {
		wantMT, wantUID := int64(0), 7
		if g.Name == "x/e" {
			wantMT = 1000
		}
		if strings.HasSuffix(g.Name, "/") && g.Name != "x/c/" {
			wantUID = 0 // synthesized parents are root-owned
		}
		assert.Equal(t, wantMT, g.MTime, "mtime of %s", g.Name)
		assert.Equal(t, wantUID, g.UID, "uid of %s", g.Name)
	}
	// The later duplicate is the one written.
	l, err = FromFiles(files[:2], WithModTime(time.Unix(5, 0)))
	require.NoError(t, err)
	check(t, l)
	for _, g := range entries(t, l) {
		assert.Equal(t, int64(5), g.MTime, "WithModTime: mtime of %s", g.Name)
	}
}

func TestDeletions(t *testing.T) {
	l, err := New(t.Context(), []Source{
		Files([]File{{Path: "var/cache/app/new", Data: []byte("n")}}),
		Deletions("/etc/motd", "usr/share/doc"),
		Opaque("/var/cache/app", "/srv"),
	})
	require.NoError(t, err)
	// Whiteouts come first in their directory, whatever the order of
	// the sources; the opaque directories without entries come (with
	// their parents) before the whiteouts left for the end.
	want := "var/ 5 755\nvar/cache/ 5 755\nvar/cache/app/ 5 755\nvar/cache/app/.wh..wh..opq 0 644\nvar/cache/app/new 0 644 \"n\"\n" +
		"srv/ 5 755\netc/.wh.motd 0 644\nsrv/.wh..wh..opq 0 644\nusr/share/.wh.doc 0 644\n"
	assert.Equal(t, want, summary(entries(t, l)), "entries")
	check(t, l)
	l, err = Delete("/a/b")
	require.NoError(t, err, "Delete(/a/b)")
	assert.Equal(t, "a/.wh.b 0 644\n", summary(entries(t, l)), "Delete(/a/b) entries")
	check(t, l)
	_, err = Delete("/a/.wh.b")
	assert.ErrorIs(t, err, ErrOption, "Delete(whiteout name)")
}

package layer

import (
	"embed"
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"
	"testing/fstest"
	"time"
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
			if err != nil {
				t.Fatal(err)
			}
			gs := entries(t, l)
			if got := summary(gs); got != tc.want {
				t.Errorf("FromFS entries =\n%s\nwant\n%s", got, tc.want)
			}
			for _, g := range gs {
				if g.MTime != 0 {
					t.Errorf("entry %s mtime %d, want 0 (fs mtimes are replaced)", g.Name, g.MTime)
				}
			}
			check(t, l)
		})
	}
	l, _ := FromFS(noLinkFS{mapfs})
	if _, err := l.Digest(); err == nil || !strings.Contains(err.Error(), `"etc/link"`) || !strings.Contains(err.Error(), "ReadLinkFS") {
		t.Errorf("FromFS(fs without ReadLinkFS).Digest() = %v, want an error naming etc/link and ReadLinkFS", err)
	}
	if _, err := FromFS(nil); !errors.Is(err, ErrOption) {
		t.Errorf("FromFS(nil) = %v, want ErrOption", err)
	}
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
	if err != nil {
		t.Fatal(err)
	}
	want := "x/ 5 755\nx/a/ 5 755\nx/a/first 0 2600 \"1\"\nx/b/ 5 755\nx/b/second 0 644 \"2 again\"\nx/c/ 5 755\nx/d/ 5 755\nx/d/link 2 777 -> ../a/first\nx/e 0 644 \"t\"\n"
	gs := entries(t, l)
	if got := summary(gs); got != want {
		t.Errorf("FromFiles entries =\n%s\nwant\n%s", got, want)
	}
	for _, g := range gs {
		wantMT, wantUID := int64(0), 7
		if g.Name == "x/e" {
			wantMT = 1000
		}
		if strings.HasSuffix(g.Name, "/") && g.Name != "x/c/" {
			wantUID = 0 // synthesized parents are root-owned
		}
		if g.MTime != wantMT || g.UID != wantUID {
			t.Errorf("entry %s: mtime %d uid %d, want %d %d", g.Name, g.MTime, g.UID, wantMT, wantUID)
		}
	}
	// The later duplicate is the one written.
	l, _ = FromFiles(files[:2], WithModTime(time.Unix(5, 0)))
	check(t, l)
	for _, g := range entries(t, l) {
		if g.MTime != 5 {
			t.Errorf("WithModTime: entry %s mtime %d, want 5", g.Name, g.MTime)
		}
	}
}

func TestDeletions(t *testing.T) {
	l, err := New(t.Context(), []Source{
		Files([]File{{Path: "var/cache/app/new", Data: []byte("n")}}),
		Deletions("/etc/motd", "usr/share/doc"),
		Opaque("/var/cache/app", "/srv"),
	})
	if err != nil {
		t.Fatal(err)
	}
	// Whiteouts come first in their directory, whatever the order of
	// the sources; the opaque directories without entries come (with
	// their parents) before the whiteouts left for the end.
	want := "var/ 5 755\nvar/cache/ 5 755\nvar/cache/app/ 5 755\nvar/cache/app/.wh..wh..opq 0 644\nvar/cache/app/new 0 644 \"n\"\n" +
		"srv/ 5 755\netc/.wh.motd 0 644\nsrv/.wh..wh..opq 0 644\nusr/share/.wh.doc 0 644\n"
	if got := summary(entries(t, l)); got != want {
		t.Errorf("entries =\n%s\nwant\n%s", got, want)
	}
	check(t, l)
	l, err = Delete("/a/b")
	if err != nil {
		t.Fatal(err)
	}
	if got := summary(entries(t, l)); got != "a/.wh.b 0 644\n" {
		t.Errorf("Delete(/a/b) entries = %s", got)
	}
	check(t, l)
	if _, err := Delete("/a/.wh.b"); !errors.Is(err, ErrOption) {
		t.Errorf("Delete(whiteout name) = %v, want ErrOption", err)
	}
}

package layer

import (
	"archive/tar"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tree creates files under root from a spec: "name" (file with its name as
// content), "name/" (dir), "name -> target" (symlink).
func tree(t *testing.T, root string, spec ...string) {
	t.Helper()
	for _, s := range spec {
		p := filepath.Join(root, strings.SplitN(s, " -> ", 2)[0])
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.Contains(s, " -> "):
			if err := os.Symlink(strings.SplitN(s, " -> ", 2)[1], p); err != nil {
				t.Fatal(err)
			}
		case strings.HasSuffix(s, "/"):
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		default:
			if err := os.WriteFile(p, []byte(filepath.Base(p)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func chmod(t *testing.T, p string, m os.FileMode) {
	t.Helper()
	if err := os.Chmod(p, m); err != nil {
		t.Fatal(err)
	}
}

func TestDir(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, d string)
		opts  []Option
		want  string
	}{{
		name:  "sorted walk, empty dirs, symlinks kept",
		setup: func(t *testing.T, d string) { tree(t, d, "b/y", "a", "empty/", "c -> /etc", "b/x -> ../a") },
		want:  "a 0 644 \"a\"\nb/ 5 755\nb/x 2 777 -> ../a\nb/y 0 644 \"y\"\nc 2 777 -> /etc\nempty/ 5 755\n",
	}, {
		name:  "symlink loops are kept as symlinks",
		setup: func(t *testing.T, d string) { tree(t, d, "l1 -> l2", "l2 -> l1", "self -> .", "up -> ..") },
		want:  "l1 2 777 -> l2\nl2 2 777 -> l1\nself 2 777 -> .\nup 2 777 -> ..\n",
	}, {
		name: "hardlinks under a new root",
		setup: func(t *testing.T, d string) {
			tree(t, d, "bin/a", "lib/")
			for _, n := range []string{"bin/b", "lib/c"} {
				if err := os.Link(filepath.Join(d, "bin/a"), filepath.Join(d, n)); err != nil {
					t.Fatal(err)
				}
			}
		},
		opts: []Option{WithRoot("/opt/x")},
		want: "opt/ 5 755\nopt/x/ 5 755\nopt/x/bin/ 5 755\nopt/x/bin/a 0 644 \"a\"\nopt/x/bin/b 1 644 -> opt/x/bin/a\nopt/x/lib/ 5 755\nopt/x/lib/c 1 644 -> opt/x/bin/a\n",
	}, {
		name: "hardlink whose first name is excluded links to the first kept one",
		setup: func(t *testing.T, d string) {
			tree(t, d, "a")
			for _, n := range []string{"b", "c"} {
				if err := os.Link(filepath.Join(d, "a"), filepath.Join(d, n)); err != nil {
					t.Fatal(err)
				}
			}
		},
		opts: []Option{WithExclude("a")},
		want: "b 0 644 \"a\"\nc 1 644 -> b\n",
	}, {
		name: "setuid, setgid, sticky and odd modes",
		setup: func(t *testing.T, d string) {
			tree(t, d, "su", "sg", "odd", "tmp/")
			chmod(t, filepath.Join(d, "su"), 0o755|os.ModeSetuid)
			chmod(t, filepath.Join(d, "sg"), 0o711|os.ModeSetgid)
			chmod(t, filepath.Join(d, "odd"), 0o407)
			chmod(t, filepath.Join(d, "tmp"), 0o777|os.ModeSticky)
		},
		want: "odd 0 407 \"odd\"\nsg 0 2711 \"sg\"\nsu 0 4755 \"su\"\ntmp/ 5 1777\n",
	}, {
		name: "fifo kept, socket skipped",
		setup: func(t *testing.T, d string) {
			if err := syscall.Mkfifo(filepath.Join(d, "fifo"), 0o600); err != nil {
				t.Skipf("mkfifo: %v", err)
			}
			ln, err := net.Listen("unix", filepath.Join(d, "sock"))
			if err != nil {
				t.Skipf("unix socket: %v", err)
			}
			t.Cleanup(func() { ln.Close() })
		},
		want: "fifo 6 600\n",
	}, {
		name:  "root, owner and mtime",
		setup: func(t *testing.T, d string) { tree(t, d, "f") },
		opts:  []Option{WithRoot("srv"), WithOwner(1000, 1000)},
		want:  "srv/ 5 755\nsrv/f 0 644 \"f\"\n",
	}, {
		name:  "strip components",
		setup: func(t *testing.T, d string) { tree(t, d, "top/bin/x", "top/y", "z") },
		opts:  []Option{WithStripComponents(1)},
		want:  "bin/ 5 755\nbin/x 0 644 \"x\"\ny 0 644 \"y\"\n",
	}, {
		name: ".dockerignore with ! re-includes",
		setup: func(t *testing.T, d string) {
			tree(t, d, "app.log", "keep.log", "main.go", "node_modules/x/index.js", "node_modules/keep/k.js", "build/out", "docs/a.md", "docs/sub/b.md")
			if err := os.WriteFile(filepath.Join(d, ".dockerignore"), []byte("# comment\n*.log\n!keep.log\nnode_modules\n!node_modules/keep/**\nbuild\n**/*.md\n!docs/sub/*.md\n.dockerignore\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		},
		want: "docs/ 5 755\ndocs/sub/ 5 755\ndocs/sub/b.md 0 644 \"b.md\"\nkeep.log 0 644 \"keep.log\"\nmain.go 0 644 \"main.go\"\nnode_modules/ 5 755\nnode_modules/keep/ 5 755\nnode_modules/keep/k.js 0 644 \"k.js\"\n",
	}, {
		name: "include patterns",
		setup: func(t *testing.T, d string) {
			tree(t, d, "svc/api/main.go", "svc/api/x_test.go", "svc/web/main.go", "lib/a.go")
		},
		opts: []Option{WithInclude("svc/api"), WithExclude("**/*_test.go")},
		want: "svc/ 5 755\nsvc/api/ 5 755\nsvc/api/main.go 0 644 \"main.go\"\n",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			d := t.TempDir()
			tc.setup(t, d)
			opts := tc.opts
			if strings.Contains(tc.name, "dockerignore") {
				opts = append(opts, WithIgnoreFile(filepath.Join(d, ".dockerignore")))
			}
			l, err := FromDir(d, opts...)
			if err != nil {
				t.Fatal(err)
			}
			gs := entries(t, l)
			if got := summary(gs); got != tc.want {
				t.Errorf("FromDir(%s) entries =\n%s\nwant\n%s", tc.name, got, tc.want)
			}
			for _, g := range gs {
				wantUID := 0
				if strings.Contains(tc.name, "owner") && g.Name != "srv/" {
					wantUID = 1000
				}
				if g.MTime != 0 || g.UID != wantUID || g.GID != wantUID || g.Uname != "" {
					t.Errorf("entry %s: mtime %d uid %d gid %d names %q, want mtime 0, owner %d, no names", g.Name, g.MTime, g.UID, g.GID, g.Uname, wantUID)
				}
			}
			check(t, l)
		})
	}
}

func TestDirDevice(t *testing.T) {
	d := t.TempDir()
	// /dev/null's numbers: 1, 3.
	if err := syscall.Mknod(filepath.Join(d, "null"), syscall.S_IFCHR|0o666, int(1<<8|3)); err != nil {
		t.Skipf("mknod (needs root): %v", err)
	}
	chmod(t, filepath.Join(d, "null"), 0o666|os.ModeDevice|os.ModeCharDevice)
	l, err := FromDir(d)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	h, err := tr.Next()
	if err != nil {
		t.Fatal(err)
	}
	if h.Name != "null" || h.Typeflag != tar.TypeChar || h.Mode != 0o666 || h.Devmajor != 1 || h.Devminor != 3 {
		t.Errorf("entry = %s type %c mode %o dev %d,%d; want null, char device 0666 1,3", h.Name, h.Typeflag, h.Mode, h.Devmajor, h.Devminor)
	}
}

// TestDirSkipsExcluded: the walk never stats anything in a directory that
// no pattern can keep (the monorepo case), nor in an excluded directory
// with no "!" pattern reaching into it.
func TestDirSkipsExcluded(t *testing.T) {
	d := t.TempDir()
	tree(t, d, "services/api/main.go", "services/api/internal/x.go", "services/web/main.go",
		"libs/big/a.go", "node_modules/m/i.js", "services/api/node_modules/n/j.js", "README.md")
	var seen []string
	testHookLstat = func(rel string) { seen = append(seen, rel) }
	t.Cleanup(func() { testHookLstat = nil })
	l, err := FromDir(d, WithInclude("services/api/**"), WithExclude("**/node_modules"))
	if err != nil {
		t.Fatal(err)
	}
	gs := entries(t, l)
	want := "services/ 5 755\nservices/api/ 5 755\nservices/api/internal/ 5 755\nservices/api/internal/x.go 0 644 \"x.go\"\nservices/api/main.go 0 644 \"main.go\"\n"
	if got := summary(gs); got != want {
		t.Errorf("entries =\n%s\nwant\n%s", got, want)
	}
	for _, s := range seen {
		if !strings.HasPrefix(s, "services") || strings.HasPrefix(s, "services/web") || strings.Contains(s, "node_modules") {
			t.Errorf("walk statted %q, outside the included subtree or inside an excluded dir", s)
		}
	}
	if !slices.Contains(seen, "services/api/main.go") {
		t.Errorf("walk statted %v, want services/api/main.go among them", seen)
	}
}

// TestDirConfined: a symlinked directory in the tree is never followed;
// FromDir of a missing directory fails lazily naming it.
func TestDirConfined(t *testing.T) {
	outside := t.TempDir()
	tree(t, outside, "secret")
	d := t.TempDir()
	tree(t, d, "out -> "+outside, "rel -> ../../../../../../")
	l, err := FromDir(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range entries(t, l) {
		if strings.Contains(g.Name, "secret") || g.Body != "" {
			t.Errorf("entry %v: the walk followed a symlink out of the tree", g)
		}
	}
	missing := filepath.Join(t.TempDir(), "nope")
	l, err = FromDir(missing)
	if err != nil {
		t.Fatalf("FromDir(missing) = %v, want no error before first use", err)
	}
	if _, err := l.Digest(); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("Digest() = %v, want ErrNotExist naming %s", err, missing)
	}
}

// TestSourceDateEpoch: the default mtime comes from SOURCE_DATE_EPOCH.
func TestSourceDateEpoch(t *testing.T) {
	d := t.TempDir()
	tree(t, d, "f")
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	l, _ := FromDir(d, WithRoot("/x"))
	for _, g := range entries(t, l) {
		if g.MTime != 1700000000 {
			t.Errorf("entry %s mtime = %d, want 1700000000", g.Name, g.MTime)
		}
	}
	l, _ = FromDir(d, WithModTime(time.Unix(42, 0)))
	for _, g := range entries(t, l) {
		if g.MTime != 42 {
			t.Errorf("WithModTime: entry %s mtime = %d, want 42", g.Name, g.MTime)
		}
	}
	t.Setenv("SOURCE_DATE_EPOCH", "yesterday")
	l, _ = FromDir(d)
	if _, err := l.Digest(); err == nil || !strings.Contains(err.Error(), "SOURCE_DATE_EPOCH") {
		t.Errorf("Digest() with a bad SOURCE_DATE_EPOCH = %v, want an error naming it", err)
	}
}

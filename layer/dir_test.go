package layer

import (
	"archive/tar"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/internal/tartest"
)

// tree creates files under root from a spec: "name" (file with its name as
// content), "name/" (dir), "name -> target" (symlink).
func tree(t *testing.T, root string, spec ...string) {
	t.Helper()
	for _, s := range spec {
		p := filepath.Join(root, strings.SplitN(s, " -> ", 2)[0])
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		switch {
		case strings.Contains(s, " -> "):
			require.NoError(t, os.Symlink(strings.SplitN(s, " -> ", 2)[1], p))
		case strings.HasSuffix(s, "/"):
			require.NoError(t, os.MkdirAll(p, 0o755))
		default:
			require.NoError(t, os.WriteFile(p, []byte(filepath.Base(p)), 0o644))
		}
	}
}

// hardlinks makes each of names under root a hard link of target.
func hardlinks(t *testing.T, root, target string, names ...string) {
	t.Helper()
	for _, n := range names {
		require.NoError(t, os.Link(filepath.Join(root, target), filepath.Join(root, n)))
	}
}

func chmod(t *testing.T, p string, m os.FileMode) {
	t.Helper()
	require.NoError(t, os.Chmod(p, m))
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
			hardlinks(t, d, "bin/a", "bin/b", "lib/c")
		},
		opts: []Option{WithRoot("/opt/x")},
		want: "opt/ 5 755\nopt/x/ 5 755\nopt/x/bin/ 5 755\nopt/x/bin/a 0 644 \"a\"\nopt/x/bin/b 1 644 -> opt/x/bin/a\nopt/x/lib/ 5 755\nopt/x/lib/c 1 644 -> opt/x/bin/a\n",
	}, {
		name: "hardlink whose first name is excluded links to the first kept one",
		setup: func(t *testing.T, d string) {
			tree(t, d, "a")
			hardlinks(t, d, "a", "b", "c")
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
			require.NoError(t, os.WriteFile(filepath.Join(d, ".dockerignore"), []byte("# comment\n*.log\n!keep.log\nnode_modules\n!node_modules/keep/**\nbuild\n**/*.md\n!docs/sub/*.md\n.dockerignore\n"), 0o644))
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
			require.NoError(t, err)
			gs := entries(t, l)
			assert.Equal(t, tc.want, summary(gs), "FromDir(%s) entries", tc.name)
			for _, g := range gs {
				wantUID := 0
				if strings.Contains(tc.name, "owner") && g.Name != "srv/" {
					wantUID = 1000
				}
				assert.Equal(t, got{Name: g.Name, UID: wantUID, GID: wantUID}, got{Name: g.Name, MTime: g.MTime, UID: g.UID, GID: g.GID, Uname: g.Uname},
					"entry %s: want mtime 0, owner %d, no names", g.Name, wantUID)
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
	require.NoError(t, err)
	es := tartest.ReadLayer(t, l)
	require.Len(t, es, 1, "entries")
	h := es[0].Header
	assert.Equal(t, tar.Header{Name: "null", Typeflag: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3},
		tar.Header{Name: h.Name, Typeflag: h.Typeflag, Mode: h.Mode, Devmajor: h.Devmajor, Devminor: h.Devminor}, "the device's entry")
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
	require.NoError(t, err)
	gs := entries(t, l)
	want := "services/ 5 755\nservices/api/ 5 755\nservices/api/internal/ 5 755\nservices/api/internal/x.go 0 644 \"x.go\"\nservices/api/main.go 0 644 \"main.go\"\n"
	assert.Equal(t, want, summary(gs), "entries")
	for _, s := range seen {
		inside := strings.HasPrefix(s, "services") && !strings.HasPrefix(s, "services/web") && !strings.Contains(s, "node_modules")
		assert.True(t, inside, "walk statted %q, outside the included subtree or inside an excluded dir", s)
	}
	assert.Contains(t, seen, "services/api/main.go", "what the walk statted")
}

// TestDirConfined: a symlinked directory in the tree is never followed;
// FromDir of a missing directory fails lazily naming it.
func TestDirConfined(t *testing.T) {
	outside := t.TempDir()
	tree(t, outside, "secret")
	d := t.TempDir()
	tree(t, d, "out -> "+outside, "rel -> ../../../../../../")
	l, err := FromDir(d)
	require.NoError(t, err)
	for _, g := range entries(t, l) {
		assert.False(t, strings.Contains(g.Name, "secret") || g.Body != "", "entry %v: the walk followed a symlink out of the tree", g)
	}
	missing := filepath.Join(t.TempDir(), "nope")
	l, err = FromDir(missing)
	require.NoError(t, err, "FromDir(missing): want no error before first use")
	_, err = l.Digest()
	assert.ErrorIs(t, err, os.ErrNotExist, "Digest()")
	assert.ErrorContains(t, err, missing, "Digest()")
}

// TestSourceDateEpoch: the default mtime comes from SOURCE_DATE_EPOCH.
func TestSourceDateEpoch(t *testing.T) {
	d := t.TempDir()
	tree(t, d, "f")
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	l, err := FromDir(d, WithRoot("/x"))
	require.NoError(t, err)
	for _, g := range entries(t, l) {
		assert.Equal(t, int64(1700000000), g.MTime, "mtime of %s", g.Name)
	}
	l, err = FromDir(d, WithModTime(time.Unix(42, 0)))
	require.NoError(t, err)
	for _, g := range entries(t, l) {
		assert.Equal(t, int64(42), g.MTime, "WithModTime: mtime of %s", g.Name)
	}
	t.Setenv("SOURCE_DATE_EPOCH", "yesterday")
	l, err = FromDir(d)
	require.NoError(t, err)
	_, err = l.Digest()
	assert.ErrorContains(t, err, "SOURCE_DATE_EPOCH", "Digest() with a bad SOURCE_DATE_EPOCH")
}

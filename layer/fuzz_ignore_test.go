package layer_test

import (
	"archive/tar"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/internal/tartest"
	"github.com/stevedore-dev/stevedore/layer"
)

// ignoreTree is the fixed source tree of FuzzIgnoreFile: names that
// .dockerignore patterns like to trip on (dot files, pattern
// metacharacters in names, deep paths, spaces, non-ASCII). No name holds
// a backslash: File paths turn it into a slash, so a Files source cannot
// hold such a name.
var ignoreTree = []string{
	".dockerignore", ".env", ".git/HEAD", ".git/refs/heads/main",
	"-dash", "README.md", "a*b", "a.go", "a_test.go", "x[1].txt", "back slash",
	"build/out/bin", "build/out/lib/x.so", "deep/1/2/3/4/f.log", "deep/1/keep.log",
	"dir with space/f", "docs/sub/y.md", "docs/x.md",
	"node_modules/p/LICENSE", "node_modules/p/index.js",
	"src/.env", "src/main.go", "src/vendor/v.go",
	"vendor/a/b/c.go", "vendor/LICENSE", "ü/ñ.txt",
}

// FuzzIgnoreFile parses fuzzed .dockerignore files (WithIgnoreFile) and
// optional include patterns (WithInclude, one per line), and checks three
// implementations of the rules against each other:
//
//   - a directory source, whose walk prunes directories (SkipDir);
//   - an in-memory source of the same files, which checks every name;
//   - when there are no include patterns, Docker's own reading of the file
//     (ignorefile.ReadAll, then patternmatcher's MatchesOrParentMatches for
//     every file), as `docker build` does for its context.
//
// All must keep exactly the same regular files, or all must fail.
func FuzzIgnoreFile(f *testing.F) {
	for _, s := range [][2]string{
		{"*.md\n!README.md\n", ""},
		{"node_modules\n!node_modules/p/LICENSE\n", ""},
		{"**/*.log\n!deep/1/keep.log\n", ""},
		{"# comment\n/build\n  .git  \n", ""},
		{"*\n!src\nsrc/vendor\n", ""},
		{"vendor\n!**/LICENSE\n", ""},
		{"x\\[1\\].txt\na\\*b\n", ""},
		{"[\n", ""},
		{"\xef\xbb\xbf.env\n**/.env\n", ""},
		{"**/node_modules\n", "src/**\nnode_modules/**"},
		{"", "docs/**/*.md\n*.go"},
		{"deep/**/f.log\n", "deep"},
		{"!\n/\n.\n..\n", ""},
		{"\\1", ""},
		{".\n", ""}, {"/\n", ""}, {"..\n", ""}, {"./src\n!src/main.go\n", ""},
		{"dir with space\nü\n", ""},
	} {
		f.Add(s[0], s[1])
	}
	root := f.TempDir()
	src := filepath.Join(root, "src")
	files := writeIgnoreTree(f, src)
	work := filepath.Join(root, "work")
	require.NoError(f, os.Mkdir(work, 0o755))
	f.Fuzz(func(t *testing.T, ignore, include string) {
		ig, err := os.CreateTemp(work, "ignore-*")
		require.NoError(t, err)
		defer os.Remove(ig.Name())
		_, err = ig.WriteString(ignore)
		require.NoError(t, err)
		require.NoError(t, ig.Close())
		checkIgnoreRules(t, work, src, files, ig.Name(), ignore, include)
	})
}

// writeIgnoreTree writes ignoreTree under src (each file holding its own
// name) and returns the same files for a Files source.
func writeIgnoreTree(tb testing.TB, src string) []layer.File {
	tb.Helper()
	var files []layer.File
	for _, p := range ignoreTree {
		full := filepath.Join(src, filepath.FromSlash(p))
		require.NoError(tb, os.MkdirAll(filepath.Dir(full), 0o755))
		require.NoError(tb, os.WriteFile(full, []byte(p), 0o644))
		files = append(files, layer.File{Path: p, Data: []byte(p)})
	}
	return files
}

// checkIgnoreRules is FuzzIgnoreFile's check of one input: the ignore
// file at ignorePath (holding ignore) and the include patterns (one per
// line), applied to the directory src and to the same files in memory,
// and to ignoreTree by Docker's matcher when there are no includes.
func checkIgnoreRules(t *testing.T, work, src string, files []layer.File, ignorePath, ignore, include string) {
	t.Helper()
	opts := []layer.SourceOption{layer.WithIgnoreFile(ignorePath)}
	if include != "" {
		opts = append(opts, layer.WithInclude(strings.Split(include, "\n")...))
	}
	fromDir, dirErr := keptFiles(t, work, layer.Dir(src, opts...))
	fromFiles, filesErr := keptFiles(t, work, layer.Files(files, opts...))
	if (dirErr == nil) != (filesErr == nil) {
		t.Fatalf("ignore %q, include %q: Dir source error %v, Files source error %v; want both or neither", ignore, include, dirErr, filesErr)
	}
	if dirErr != nil {
		if errors.Is(dirErr, layer.ErrInvalidOption) || strings.Contains(dirErr.Error(), "pattern") {
			return // a pattern the matcher refuses: refused by both
		}
		if errors.Is(dirErr, layer.ErrNoMatch) && errors.Is(filesErr, layer.ErrNoMatch) {
			return // an include pattern that keeps nothing: both say so
		}
		t.Fatalf("ignore %q, include %q: unexpected error %v", ignore, include, dirErr)
	}
	require.Equal(t, fromDir, fromFiles, "ignore %q, include %q: files the Dir source keeps, the Files source keeps", ignore, include)
	if include != "" {
		return
	}
	want, ok := dockerKeeps(ignore)
	require.True(t, ok, "ignore %q: Docker's matcher refuses these patterns, the layer package built a layer", ignore)
	require.Equal(t, want, fromDir, "ignore %q: files Docker keeps, the layer keeps", ignore)
}

// keptFiles builds a one-source uncompressed layer and returns the sorted
// names of its regular files.
func keptFiles(t *testing.T, tmp string, s layer.Source) ([]string, error) {
	l, err := layer.New(context.Background(), []layer.Source{s}, layer.WithCompression(layer.Uncompressed), layer.WithTempDir(tmp))
	if err != nil {
		return nil, err
	}
	if _, err := l.Digest(); err != nil {
		return nil, err
	}
	var names []string
	for _, e := range tartest.ReadLayer(t, l) {
		if e.Header.Typeflag == tar.TypeReg {
			names = append(names, e.Header.Name)
		}
	}
	slices.Sort(names)
	return names, nil
}

// dockerKeeps is what `docker build` sends of ignoreTree with ignore as
// its .dockerignore; ok is false when Docker would fail on the patterns.
func dockerKeeps(ignore string) (kept []string, ok bool) {
	pats, err := ignorefile.ReadAll(strings.NewReader(ignore))
	if err != nil {
		return nil, false
	}
	pm, err := patternmatcher.New(pats)
	if err != nil {
		return nil, false
	}
	for _, p := range ignoreTree {
		ex, err := pm.MatchesOrParentMatches(p)
		if err != nil {
			return nil, false
		}
		if !ex {
			kept = append(kept, p)
		}
	}
	slices.Sort(kept)
	return kept, true
}

// TestIgnoreFileSeeds runs the fuzz seeds' checks once more with named
// expectations, so a reader sees what the rules do to ignoreTree.
func TestIgnoreFileSeeds(t *testing.T) {
	work := t.TempDir()
	src := filepath.Join(t.TempDir(), "src")
	writeIgnoreTree(t, src)
	for _, tc := range []struct {
		ignore string
		want   []string // kept files
	}{
		{"*\n!src\nsrc/vendor\n", []string{"src/.env", "src/main.go"}},
		// "*/*/*" drops every file three or more levels deep, re-included
		// or not: a later pattern decides.
		{"**/*.log\n!deep/1/keep.log\n*.md\n!README.md\n.git\n*/*/*\n", []string{"-dash", ".dockerignore", ".env", "README.md", "a*b", "a.go", "a_test.go", "back slash", "dir with space/f", "docs/x.md", "src/.env", "src/main.go", "vendor/LICENSE", "x[1].txt", "ü/ñ.txt"}},
		{"*/*/*\n**/*.log\n!deep/1/keep.log\n", []string{"-dash", ".dockerignore", ".env", ".git/HEAD", "README.md", "a*b", "a.go", "a_test.go", "back slash", "deep/1/keep.log", "dir with space/f", "docs/x.md", "src/.env", "src/main.go", "vendor/LICENSE", "x[1].txt", "ü/ñ.txt"}},
		{"vendor\nnode_modules\n!**/LICENSE\n*\n!vendor\n", []string{"vendor/LICENSE", "vendor/a/b/c.go"}},
		{"x\\[1\\].txt\na\\*b\n*/**\n.*\n-*\n*.go\n*.md\nback*\n", nil},
		{"x\\[1\\].txt\na\\*b\n*/**\n.*\n-*\n*.go\n*.md\n", []string{"back slash"}},
	} {
		p := filepath.Join(work, "ignore")
		require.NoError(t, os.WriteFile(p, []byte(tc.ignore), 0o644))
		got, err := keptFiles(t, work, layer.Dir(src, layer.WithIgnoreFile(p)))
		require.NoError(t, err, "FromDir(WithIgnoreFile(%q))", tc.ignore)
		assert.Equal(t, tc.want, got, "files FromDir(WithIgnoreFile(%q)) keeps", tc.ignore)
		docker, ok := dockerKeeps(tc.ignore)
		assert.True(t, ok, "Docker's matcher refuses %q", tc.ignore)
		assert.Equal(t, tc.want, docker, "files Docker's matcher keeps (if this fails, the expectation is wrong)")
	}
}

// TestRefusedPatterns: patterns that Docker's matcher refuses — a lone
// "!" (ignore files only: WithExclude refuses empty patterns itself),
// also when written "/!" (found by FuzzIgnoreFile), and escapes that make
// no regexp, such as `\1` (found by FuzzIgnoreFile) —
// fail the layer with an error wrapping ErrOption that quotes the
// pattern, instead of silently leaving out (or keeping) every file.
func TestRefusedPatterns(t *testing.T) {
	src := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(src, "f"), []byte("x"), 0o644))
	ignore := func(body string) string {
		p := filepath.Join(t.TempDir(), ".dockerignore")
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
		return p
	}
	for _, tc := range []struct {
		name    string
		opt     layer.Option
		pattern string
	}{
		{"ignore file, bad escape", layer.WithIgnoreFile(ignore("*.log\n\\1\n")), `\1`},
		{"ignore file, lone !", layer.WithIgnoreFile(ignore("*.log\n!\n")), `!`},
		// Found by FuzzIgnoreFile: ignorefile cleans "/!" to "!".
		{"ignore file, /! is a lone ! too", layer.WithIgnoreFile(ignore("/!\n")), `!`},
		{"WithExclude, bad escape", layer.WithExclude("a", `x\1`), `x\1`},
		{"WithInclude, bad escape", layer.WithInclude(`\1`), `\1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := layer.FromDir(src, tc.opt, layer.WithTempDir(t.TempDir()))
			if err == nil {
				_, err = l.Digest()
			}
			assert.ErrorIs(t, err, layer.ErrOption, "FromDir with pattern %q", tc.pattern)
			assert.ErrorContains(t, err, strconv.Quote(tc.pattern), "FromDir with pattern %q", tc.pattern)
		})
	}
}

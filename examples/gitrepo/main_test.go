package main

import (
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"testing/fstest"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/attest"
	"github.com/stevedore-dev/stevedore/examples/internal/exampletest"
	"github.com/stevedore-dev/stevedore/internal/gitfs"
	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

// testRepo creates the demo repository in a temp dir, then a branch
// "feature" with a second commit that changes README.md and removes the
// executable, a lightweight tag v1 and an annotated tag v1-annotated on the
// first commit. HEAD stays on master, at the first commit.
func testRepo(t *testing.T) (dir string, first, second plumbing.Hash) {
	t.Helper()
	dir = t.TempDir()
	require.NoError(t, createDemo(dir))
	repo, err := git.PlainOpen(dir)
	require.NoError(t, err)
	head, err := repo.Head()
	require.NoError(t, err)
	first = head.Hash()
	w, err := repo.Worktree()
	require.NoError(t, err)
	require.NoError(t, w.Checkout(&git.CheckoutOptions{Branch: plumbing.NewBranchReferenceName("feature"), Create: true}))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "README.md"), []byte("# feature\n"), 0o644))
	_, err = w.Remove("scripts/build.sh")
	require.NoError(t, err)
	_, err = w.Add("README.md")
	require.NoError(t, err)
	sig := &object.Signature{Name: "Test", Email: "test@example.com", When: demoTime.Add(3600e9)}
	second, err = w.Commit("feature", &git.CommitOptions{Author: sig, Committer: sig})
	require.NoError(t, err)
	require.NoError(t, w.Checkout(&git.CheckoutOptions{Branch: head.Name()}))
	_, err = repo.CreateTag("v1", first, nil)
	require.NoError(t, err)
	_, err = repo.CreateTag("v1-annotated", first, &git.CreateTagOptions{Tagger: sig, Message: "v1"})
	require.NoError(t, err)
	return dir, first, second
}

// TestCloneFileURL clones a repository made here through file://, at
// several kinds of refs, and checks the tree in the image: modes, the
// symlinks, the nested directories.
func TestCloneFileURL(t *testing.T) {
	dir, first, second := testRepo(t)
	srv := registrytest.New(t)
	cache := t.TempDir()
	tests := []struct {
		ref    string
		commit plumbing.Hash
	}{
		{"HEAD", first},
		{"master", first},
		{"v1", first},
		{"v1-annotated", first},
		{first.String(), first},
		{first.String()[:8], first},
		{"feature", second},
	}
	digests := map[plumbing.Hash]string{}
	for i, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			// A repository per ref: the provenance of each names its ref.
			target := srv.Ref(fmt.Sprintf("src%d:%s", i, tt.commit.String()[:12]))
			args := []string{"-repo", "file://" + dir, "-ref", tt.ref, "-dst", "/work/src", "-target", target, "-cache", cache}
			r1 := exampletest.Run(t, run, args...)
			r2 := exampletest.Run(t, run, args...)
			require.Equal(t, r1.Digest, r2.Digest, "digest of the second run")
			// The same commit, by any of its names, gives the same image.
			if d, ok := digests[tt.commit]; ok {
				assert.Equal(t, d, r1.Digest, "-ref %s: digest (the one another name of commit %s gave)", tt.ref, tt.commit)
			}
			digests[tt.commit] = r1.Digest

			img := exampletest.Pull(t, r1.Ref)
			cfg := exampletest.Config(t, img)
			assert.Equal(t, tt.commit.String(), cfg.Labels["org.opencontainers.image.revision"], "revision label")
			assert.NotContains(t, cfg.Labels, "org.opencontainers.image.source", "labels of the image of a file:// repository")
			// The provenance, pushed as a referrer, names the repository
			// and the commit the ref resolved to.
			prov := string(exampletest.RegistryAttestations(t, r1.Ref)[attest.MediaTypeInToto])
			assert.Contains(t, prov, `"uri":"git+file://`+dir+`@`+tt.commit.String()+`"`, "the git dependency")
			assert.Contains(t, prov, `"gitCommit":"`+tt.commit.String()+`"`, "the commit")
			assert.Contains(t, prov, `"ref":"`+tt.ref+`"`, "the ref asked for")
			files := exampletest.Files(t, img)
			want := map[string]fs.FileMode{
				"/work":                             fs.ModeDir | 0o755,
				"/work/src":                         fs.ModeDir | 0o755,
				"/work/src/README.md":               0o644,
				"/work/src/INTRO.md":                fs.ModeSymlink | 0o777,
				"/work/src/docs":                    fs.ModeDir | 0o755,
				"/work/src/docs/scripts":            fs.ModeSymlink | 0o777,
				"/work/src/docs/guide":              fs.ModeDir | 0o755,
				"/work/src/docs/guide/intro.md":     0o644,
				"/work/src/docs/guide/images":       fs.ModeDir | 0o755,
				"/work/src/docs/guide/images/a.txt": 0o644,
				"/work/src/scripts":                 fs.ModeDir | 0o755,
				"/work/src/scripts/build.sh":        0o755,
			}
			readme := demoFiles["README.md"]
			if tt.commit == second {
				delete(want, "/work/src/scripts/build.sh")
				delete(want, "/work/src/scripts")
				readme = "# feature\n"
			}
			got := map[string]fs.FileMode{}
			for name, f := range files {
				got[name] = exampletest.Mode(f)
			}
			assert.Equal(t, want, got, "files in the image")
			for name, target := range map[string]string{"/work/src/INTRO.md": "docs/guide/intro.md", "/work/src/docs/scripts": "../scripts"} {
				if h := files[name].Header; assert.NotNil(t, h, "%s in the image", name) {
					assert.Equal(t, target, h.Linkname, "target of the symlink %s", name)
				}
			}
			assert.Equal(t, readme, string(files["/work/src/README.md"].Data), "README.md")
		})
	}
}

// TestDefault runs with no flags but the output: the generated demo.
func TestDefault(t *testing.T) {
	out := filepath.Join(t.TempDir(), "g.oci.tar")
	r1 := exampletest.Run(t, run, "-o", out, "-cache", "")
	r2 := exampletest.Run(t, run, "-o", out, "-cache", "")
	require.Equal(t, r1.Digest, r2.Digest, "digest of the second run")
	img := exampletest.OpenTarball(t, out, "latest", r1.Digest)
	files := exampletest.Files(t, img)
	assert.Equal(t, fs.FileMode(0o755), exampletest.Mode(files["/src/scripts/build.sh"]), "mode of /src/scripts/build.sh")
}

// TestGitFS checks the io/fs adapter with testing/fstest.
func TestGitFS(t *testing.T) {
	dir, _, _ := testRepo(t)
	repo, err := git.Clone(memory.NewStorage(), nil, &git.CloneOptions{URL: "file://" + dir})
	require.NoError(t, err)
	head, err := repo.Head()
	require.NoError(t, err)
	commit, err := repo.CommitObject(head.Hash())
	require.NoError(t, err)
	tree, err := commit.Tree()
	require.NoError(t, err)
	fsys := gitfs.New(tree)
	want := slices.Sorted(maps.Keys(demoFiles))
	require.NoError(t, fstest.TestFS(fsys, want...))
	for name, target := range demoLinks {
		got, err := fs.ReadLink(fsys, name)
		if assert.NoError(t, err, "ReadLink(%q)", name) {
			assert.Equal(t, target, got, "ReadLink(%q)", name)
		}
	}
	// A symlink is followed by Open, inside the tree only.
	b, err := fs.ReadFile(fsys, "INTRO.md")
	if assert.NoError(t, err, "ReadFile(INTRO.md)") {
		assert.Equal(t, demoFiles["docs/guide/intro.md"], string(b), "ReadFile(INTRO.md): the content of docs/guide/intro.md")
	}
}

func TestErrors(t *testing.T) {
	dir, _, _ := testRepo(t)
	out := filepath.Join(t.TempDir(), "x.tar")
	exampletest.RunFailures(t, run, []exampletest.Failure{
		{Name: "unknown ref", Args: []string{"-repo", dir, "-ref", "nope", "-o", out, "-cache", ""}, Substr: "ref nope in " + dir + ": no branch, tag or commit"},
		{Name: "not a repository", Args: []string{"-repo", t.TempDir(), "-o", out}, Substr: "repository not found"},
		{Name: "token not shown", Args: []string{"-repo", "http://user:tok3n@127.0.0.1:1/x.git", "-o", out}, Substr: "http://user:xxxxx@127.0.0.1:1/x.git"},
		{Name: "relative dst", Args: []string{"-repo", dir, "-dst", "src"}, Substr: `-dst "src": want an absolute directory`},
		{Name: "target and o", Args: []string{"-target", "example.com/a:b", "-o", out}, Substr: "-target and -o"},
	}, func(t *testing.T, f exampletest.Failure, err error) {
		assert.NotContains(t, err.Error(), "tok3n", "run(%q): the error shows the token", f.Args)
	})
}

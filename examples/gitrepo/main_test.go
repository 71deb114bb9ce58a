package main

import (
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"
	"github.com/stretchr/testify/assert"

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
	if err := createDemo(dir); err != nil {
		t.Fatal(err)
	}
	repo, err := git.PlainOpen(dir)
	if err != nil {
		t.Fatal(err)
	}
	head, err := repo.Head()
	if err != nil {
		t.Fatal(err)
	}
	first = head.Hash()
	w, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Checkout(&git.CheckoutOptions{Branch: plumbing.NewBranchReferenceName("feature"), Create: true}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte("# feature\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Remove("scripts/build.sh"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Add("README.md"); err != nil {
		t.Fatal(err)
	}
	sig := &object.Signature{Name: "Test", Email: "test@example.com", When: demoTime.Add(3600e9)}
	second, err = w.Commit("feature", &git.CommitOptions{Author: sig, Committer: sig})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Checkout(&git.CheckoutOptions{Branch: head.Name()}); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.CreateTag("v1", first, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.CreateTag("v1-annotated", first, &git.CreateTagOptions{Tagger: sig, Message: "v1"}); err != nil {
		t.Fatal(err)
	}
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
			if r1.Digest != r2.Digest {
				t.Fatalf("run twice: digests %s and %s, want the same", r1.Digest, r2.Digest)
			}
			// The same commit, by any of its names, gives the same image.
			if d, ok := digests[tt.commit]; ok && d != r1.Digest {
				t.Errorf("-ref %s gave %s, another name of commit %s gave %s", tt.ref, r1.Digest, tt.commit, d)
			}
			digests[tt.commit] = r1.Digest

			img := exampletest.Pull(t, r1.Ref)
			cfg := exampletest.Config(t, img)
			if got := cfg.Labels["org.opencontainers.image.revision"]; got != tt.commit.String() {
				t.Errorf("revision label = %q, want %s", got, tt.commit)
			}
			if _, ok := cfg.Labels["org.opencontainers.image.source"]; ok {
				t.Error("a file:// repository got a source label")
			}
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
			if !maps.Equal(got, want) {
				t.Errorf("files in the image = %v, want %v", got, want)
			}
			if l := files["/work/src/INTRO.md"].Header; l == nil || l.Linkname != "docs/guide/intro.md" {
				t.Errorf("/work/src/INTRO.md = %+v, want a symlink to docs/guide/intro.md", l)
			}
			if l := files["/work/src/docs/scripts"].Header; l == nil || l.Linkname != "../scripts" {
				t.Errorf("/work/src/docs/scripts = %+v, want a symlink to ../scripts", l)
			}
			if got := string(files["/work/src/README.md"].Data); got != readme {
				t.Errorf("README.md = %q, want %q", got, readme)
			}
		})
	}
}

// TestDefault runs with no flags but the output: the generated demo.
func TestDefault(t *testing.T) {
	out := filepath.Join(t.TempDir(), "g.oci.tar")
	r1 := exampletest.Run(t, run, "-o", out, "-cache", "")
	r2 := exampletest.Run(t, run, "-o", out, "-cache", "")
	if r1.Digest != r2.Digest {
		t.Fatalf("run twice: digests %s and %s, want the same", r1.Digest, r2.Digest)
	}
	img := exampletest.OpenTarball(t, out, "latest", r1.Digest)
	files := exampletest.Files(t, img)
	if m := exampletest.Mode(files["/src/scripts/build.sh"]); m != 0o755 {
		t.Errorf("mode of /src/scripts/build.sh = %v, want -rwxr-xr-x", m)
	}
}

// TestGitFS checks the io/fs adapter with testing/fstest.
func TestGitFS(t *testing.T) {
	dir, _, _ := testRepo(t)
	repo, err := git.Clone(memory.NewStorage(), nil, &git.CloneOptions{URL: "file://" + dir})
	if err != nil {
		t.Fatal(err)
	}
	head, err := repo.Head()
	if err != nil {
		t.Fatal(err)
	}
	commit, err := repo.CommitObject(head.Hash())
	if err != nil {
		t.Fatal(err)
	}
	tree, err := commit.Tree()
	if err != nil {
		t.Fatal(err)
	}
	fsys := gitfs.New(tree)
	want := slices.Sorted(maps.Keys(demoFiles))
	if err := fstest.TestFS(fsys, want...); err != nil {
		t.Fatal(err)
	}
	for name, target := range demoLinks {
		got, err := fs.ReadLink(fsys, name)
		if err != nil || got != target {
			t.Errorf("ReadLink(%q) = %q, %v, want %q", name, got, err, target)
		}
	}
	// A symlink is followed by Open, inside the tree only.
	b, err := fs.ReadFile(fsys, "INTRO.md")
	if err != nil || string(b) != demoFiles["docs/guide/intro.md"] {
		t.Errorf("ReadFile(INTRO.md) = %q, %v, want the content of docs/guide/intro.md", b, err)
	}
}

func TestErrors(t *testing.T) {
	dir, _, _ := testRepo(t)
	out := filepath.Join(t.TempDir(), "x.tar")
	tests := []struct {
		name   string
		args   []string
		substr string
	}{
		{"unknown ref", []string{"-repo", dir, "-ref", "nope", "-o", out, "-cache", ""}, "ref nope in " + dir + ": no branch, tag or commit"},
		{"not a repository", []string{"-repo", t.TempDir(), "-o", out}, "repository not found"},
		{"token not shown", []string{"-repo", "http://user:tok3n@127.0.0.1:1/x.git", "-o", out}, "http://user:xxxxx@127.0.0.1:1/x.git"},
		{"relative dst", []string{"-repo", dir, "-dst", "src"}, `-dst "src": want an absolute directory`},
		{"target and o", []string{"-target", "example.com/a:b", "-o", out}, "-target and -o"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := exampletest.RunErr(t, run, tt.args...)
			if err == nil {
				t.Fatalf("run(%q) = nil, want an error; stdout %q", tt.args, r.Stdout)
			}
			if !strings.Contains(err.Error(), tt.substr) {
				t.Errorf("run(%q) = %v, want it to mention %q", tt.args, err, tt.substr)
			}
			if strings.Contains(err.Error(), "tok3n") {
				t.Errorf("run(%q) = %v: the error shows the token", tt.args, err)
			}
		})
	}
}

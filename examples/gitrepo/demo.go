package main

import (
	"os"
	"path/filepath"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// demoFiles is the demo repository: path -> content; content starting
// with "#!" makes an executable, and links holds its symlinks.
var (
	demoFiles = map[string]string{
		"README.md":               "# demo\nAn image of this repository, made by examples/gitrepo.\n",
		"scripts/build.sh":        "#!/bin/sh\necho building\n",
		"docs/guide/intro.md":     "# intro\n",
		"docs/guide/images/a.txt": "nested\n",
	}
	demoLinks = map[string]string{
		"INTRO.md":     "docs/guide/intro.md",
		"docs/scripts": "../scripts",
	}
)

// demoTime is the demo commit's time: a fixed one, so the commit hash and
// the image digest are the same at every run.
var demoTime = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// createDemo creates the demo repository, with one commit, in dir.
func createDemo(dir string) error {
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		return err
	}
	for name, content := range demoFiles {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if len(content) > 2 && content[:2] == "#!" {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			return err
		}
		if err := os.Chmod(p, mode); err != nil { // whatever the umask
			return err
		}
	}
	for name, target := range demoLinks {
		if err := os.Symlink(target, filepath.Join(dir, filepath.FromSlash(name))); err != nil {
			return err
		}
	}
	w, err := repo.Worktree()
	if err != nil {
		return err
	}
	if err := w.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		return err
	}
	sig := &object.Signature{Name: "Demo", Email: "demo@example.com", When: demoTime}
	_, err = w.Commit("demo repository for examples/gitrepo", &git.CommitOptions{Author: sig, Committer: sig})
	return err
}

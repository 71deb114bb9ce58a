package gitfs

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
	"github.com/go-git/go-git/v5/plumbing/transport/server"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/go-git/go-git/v5/storage/memory"
)

var serveOnce sync.Once

// ServeFileURLs makes file:// URLs (and local paths) clone in-process with
// go-git's own server instead of running the git-upload-pack binary, so no
// git installation is needed. It changes go-git's protocol table for the
// whole process, once.
func ServeFileURLs() {
	serveOnce.Do(func() { client.InstallProtocol("file", server.NewServer(localRepos{})) })
}

// LocalLoader is the go-git server loader behind ServeFileURLs: it loads
// the repository of a file:// endpoint, a working copy or a bare one.
func LocalLoader() server.Loader { return localRepos{} }

// localRepos loads the repository of a file:// endpoint: a bare one, or
// the .git directory of a working copy. (go-git's server.DefaultLoader
// reads a working copy's root as if it were the .git directory.)
type localRepos struct{}

func (localRepos) Load(ep *transport.Endpoint) (storer.Storer, error) {
	root := osfs.New(ep.Path)
	if fi, err := root.Stat(".git"); err == nil && fi.IsDir() {
		dotgit, err := root.Chroot(".git")
		if err != nil {
			return nil, err
		}
		return filesystem.NewStorage(dotgit, cache.NewObjectLRUDefault()), nil
	}
	if _, err := root.Stat("config"); err == nil {
		return filesystem.NewStorage(root, cache.NewObjectLRUDefault()), nil
	}
	return nil, transport.ErrRepositoryNotFound
}

// Checkout is a commit's tree cloned into memory.
type Checkout struct {
	FS     FS
	Commit string // the commit hash
}

// Clone clones the repository at rawURL (https, ssh, file:// or a local
// path) into memory, object store only, and returns the tree of ref: a
// branch, tag or commit ("" means HEAD). Errors show rawURL with any
// password masked.
func Clone(ctx context.Context, rawURL, ref string) (*Checkout, error) {
	source, shown := rawURL, Redact(rawURL)
	if u, err := url.Parse(rawURL); err != nil || u.Scheme == "" {
		// A local path (or scp-like user@host:path, which go-git parses).
		if abs, err := filepath.Abs(rawURL); err == nil && !strings.Contains(rawURL, "@") {
			source = abs
		}
	}
	repo, err := git.CloneContext(ctx, memory.NewStorage(), nil, &git.CloneOptions{URL: source, Tags: git.AllTags})
	if err != nil {
		return nil, fmt.Errorf("cloning %s: %w", shown, err)
	}
	if ref == "" {
		ref = "HEAD"
	}
	commit, err := Resolve(repo, ref)
	if err != nil {
		return nil, fmt.Errorf("ref %s in %s: %w", ref, shown, err)
	}
	tree, err := commit.Tree()
	if err != nil {
		return nil, fmt.Errorf("reading the tree of %s: %w", commit.Hash, err)
	}
	return &Checkout{FS: New(tree), Commit: commit.Hash.String()}, nil
}

// Redact masks the password of a URL's user info, for errors and logs.
func Redact(rawURL string) string {
	if u, err := url.Parse(rawURL); err == nil && u.User != nil {
		return u.Redacted()
	}
	return rawURL
}

// Resolve finds the commit ref names: a commit hash, a tag, a local or a
// remote-tracking branch (a clone has only origin/NAME for most branches).
func Resolve(repo *git.Repository, ref string) (*object.Commit, error) {
	var firstErr error
	for _, rev := range []string{ref, "origin/" + ref} {
		h, err := repo.ResolveRevision(plumbing.Revision(rev))
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		c, err := repo.CommitObject(*h)
		if err != nil {
			// An annotated tag resolves to the tag object.
			if tag, terr := repo.TagObject(*h); terr == nil {
				return tag.Commit()
			}
			return nil, err
		}
		return c, nil
	}
	return nil, fmt.Errorf("no branch, tag or commit of that name: %w", firstErr)
}

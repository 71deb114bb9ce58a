// Command gitrepo builds an image holding a git repository's tree at a ref,
// cloned into memory with go-git: nothing is checked out on disk, and no
// git binary is needed. The tree is read straight from the git objects
// through an io/fs adapter (gitfs.go) that keeps symlinks, executable bits
// and directories, and layered under -dst with layer.FromFS. The image is
// labelled with the commit (org.opencontainers.image.revision) and, for a
// remote repository, its URL (org.opencontainers.image.source).
//
// With no flags it creates a small demo repository in a temp dir, clones it
// through file:// and writes gitrepo.oci.tar:
//
//	go run ./examples/gitrepo
//
// On a real repository (https, ssh or a local path):
//
//	go run ./examples/gitrepo -repo https://github.com/google/go-containerregistry \
//		-ref v0.20.0 -dst /src -target registry.example.com/mirror/ggcr-src:v0.20.0
//
// The clone is held in memory: fine for source trees, not for repositories
// of many gigabytes. The last line of stdout is REF@sha256:... or
// FILE@sha256:....
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

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
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/stevedore-dev/stevedore/examples/internal/cli"
	"github.com/stevedore-dev/stevedore/image"
	"github.com/stevedore-dev/stevedore/layer"
	"github.com/stevedore-dev/stevedore/registry"
)

func init() {
	// Serve file:// (and local paths) in-process instead of running the
	// git-upload-pack binary, so no git installation is needed.
	client.InstallProtocol("file", server.NewServer(localRepos{}))
}

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

func main() { cli.Main("gitrepo", run) }

type config struct {
	repo, ref, dst    string
	base, target, out string
	cacheDir          string
	log               cli.Logger
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("gitrepo", flag.ContinueOnError)
	c := &config{log: cli.Logger{W: stderr}}
	fs.StringVar(&c.repo, "repo", "", "git repository `URL-or-PATH` (https://, ssh://, file:// or a local path; default: a generated demo repository)")
	fs.StringVar(&c.ref, "ref", "HEAD", "branch, tag or commit `REF` to take the tree of")
	fs.StringVar(&c.dst, "dst", "/src", "absolute `DIR` in the image to put the tree in")
	fs.StringVar(&c.base, "base", "", "base image `REF` (default: scratch)")
	fs.StringVar(&c.target, "target", "", "push the image to `REF`; without it the image is written with -o")
	fs.StringVar(&c.out, "o", "", "write the image to `FILE` as an OCI tarball (default gitrepo.oci.tar when there is no -target)")
	fs.StringVar(&c.cacheDir, "cache", cli.DefaultCacheDir(), "layer cache `DIR` (empty: no cache)")
	fs.BoolVar(&c.log.Verbose, "v", false, "print progress on stderr")
	cli.SetUsage(fs, "Builds an image of a git repository's tree at a ref, cloned in memory; with no flags, a generated demo repository.")
	if err := cli.Parse(fs, args, stderr); err != nil {
		return nil, err
	}
	if !path.IsAbs(c.dst) {
		return nil, fmt.Errorf("-dst %q: want an absolute directory such as /src", c.dst)
	}
	if err := cli.Destination(fs, c.target, &c.out); err != nil {
		return nil, err
	}
	return c, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if c.repo == "" {
		dir, err := os.MkdirTemp("", "gitrepo-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		if err := createDemo(dir); err != nil {
			return fmt.Errorf("creating the demo repository: %w", err)
		}
		c.repo = "file://" + dir
		c.log.Printf("created a demo repository in %s", dir)
	}

	// Clone into memory: object store only, no worktree.
	source, shown := c.repo, c.repo
	if u, err := url.Parse(c.repo); err == nil && u.User != nil {
		shown = u.Redacted() // never print a token given in the URL
	}
	if u, err := url.Parse(c.repo); err != nil || u.Scheme == "" {
		// A local path (or scp-like user@host:path, which go-git parses).
		if abs, err := filepath.Abs(c.repo); err == nil && !strings.Contains(c.repo, "@") {
			source = abs
		}
	}
	start := time.Now()
	repo, err := git.CloneContext(ctx, memory.NewStorage(), nil, &git.CloneOptions{URL: source, Tags: git.AllTags})
	if err != nil {
		return fmt.Errorf("cloning %s: %w", shown, err)
	}
	commit, err := resolve(repo, c.ref)
	if err != nil {
		return fmt.Errorf("-ref %s in %s: %w", c.ref, shown, err)
	}
	tree, err := commit.Tree()
	if err != nil {
		return fmt.Errorf("reading the tree of %s: %w", commit.Hash, err)
	}
	c.log.Printf("cloned %s in %s; %s is commit %s", shown, time.Since(start).Round(time.Millisecond), c.ref, commit.Hash)

	opts := []layer.Option{layer.WithRoot(c.dst)}
	if c.cacheDir != "" {
		opts = append(opts, layer.WithCache(c.cacheDir))
	}
	src, err := layer.FromFS(gitFS{root: tree}, opts...)
	if err != nil {
		return err
	}

	var base v1.Image
	if c.base != "" {
		if base, err = registry.Pull(ctx, c.base); err != nil {
			return err
		}
	}
	config := []image.Option{
		image.WithLayers(src),
		image.WithLabel("org.opencontainers.image.revision", commit.Hash.String()),
	}
	if u, err := url.Parse(c.repo); err == nil && u.Scheme != "" && u.Scheme != "file" && u.User == nil {
		config = append(config, image.WithLabel("org.opencontainers.image.source", c.repo))
	}
	img, err := image.Build(ctx, base, config...)
	if err != nil {
		return err
	}

	// Progress of a push, with -v.
	popts, done := cli.Progress(stderr, c.log.Verbose && c.target != "")
	ref, err := cli.Publish(ctx, img, c.target, c.out, "latest", popts...)
	done()
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, ref)
	return nil
}

// resolve finds the commit ref names: a commit hash, a tag, a local or a
// remote-tracking branch (a clone has only origin/NAME for most branches).
func resolve(repo *git.Repository, ref string) (*object.Commit, error) {
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

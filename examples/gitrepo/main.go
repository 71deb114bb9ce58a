// Command gitrepo builds an image holding a git repository's tree at a ref,
// cloned into memory with go-git: nothing is checked out on disk, and no
// git binary is needed. The tree is read straight from the git objects
// through an io/fs adapter (internal/gitfs) that keeps symlinks, executable bits
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
	"path"
	"path/filepath"
	"slices"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/stevedore-dev/stevedore/attest"
	"github.com/stevedore-dev/stevedore/examples/internal/cli"
	"github.com/stevedore-dev/stevedore/image"
	"github.com/stevedore-dev/stevedore/internal/gitfs"
	"github.com/stevedore-dev/stevedore/layer"
	"github.com/stevedore-dev/stevedore/registry"
)

func init() {
	// Clone file:// (and local paths) in-process: no git installation needed.
	gitfs.ServeFileURLs()
}

func main() { cli.Main("gitrepo", run) }

type config struct {
	cli.Common
	repo, ref, dst string
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("gitrepo", flag.ContinueOnError)
	c := &config{}
	// -base, -target, -o, -cache, -sbom and -v.
	c.Register(fs, cli.Flags{Base: "scratch", Push: "target", SBOM: true})
	fs.StringVar(&c.repo, "repo", "", "git repository `URL-or-PATH` (https://, ssh://, file:// or a local path; default: a generated demo repository)")
	fs.StringVar(&c.ref, "ref", "HEAD", "branch, tag or commit `REF` to take the tree of")
	fs.StringVar(&c.dst, "dst", "/src", "absolute `DIR` in the image to put the tree in")
	cli.SetUsage(fs, "Builds an image of a git repository's tree at a ref, cloned in memory; with no flags, a generated demo repository.")
	if err := c.Parse(fs, args, stderr); err != nil {
		return nil, err
	}
	if !path.IsAbs(c.dst) {
		return nil, fmt.Errorf("-dst %q: want an absolute directory such as /src", c.dst)
	}
	return c, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if c.repo == "" {
		dir, remove, err := cli.DemoDir("gitrepo-demo-", createDemo)
		if err != nil {
			return fmt.Errorf("creating the demo repository: %w", err)
		}
		defer remove()
		c.repo = "file://" + dir
		c.Log.Printf("created a demo repository in %s", dir)
	}

	// Clone into memory: object store only, no worktree.
	start := time.Now()
	co, err := gitfs.Clone(ctx, c.repo, c.ref)
	if err != nil {
		return err
	}
	c.Log.Printf("cloned %s in %s; %s is commit %s", gitfs.Redact(c.repo), time.Since(start).Round(time.Millisecond), c.ref, co.Commit)

	// The layer cache of -cache: the same tree is not layered twice.
	src, err := layer.FromFS(co.FS, append(c.LayerOptions(), layer.WithRoot(c.dst))...)
	if err != nil {
		return err
	}

	var base v1.Image
	if c.Base != "" {
		if base, err = registry.Pull(ctx, c.Base); err != nil {
			return err
		}
	}
	config := []image.Option{
		image.WithLayers(src),
		image.WithLabel("org.opencontainers.image.revision", co.Commit),
	}
	if u, err := url.Parse(c.repo); err == nil && u.Scheme != "" && u.Scheme != "file" && u.User == nil {
		config = append(config, image.WithLabel("org.opencontainers.image.source", c.repo))
	}
	// The caches serve the image too: image.WithCache keeps the index of
	// the base's files in -cache. When pushing, the layer is uploaded as
	// soon as it is built.
	uploads, err := c.UploadWhileBuilding(ctx)
	if err != nil {
		return err
	}
	defer c.CloseUploads()
	img, err := image.Build(ctx, base, slices.Concat(config, c.ImageOptions(), uploads)...)
	if err != nil {
		return err
	}

	// Pushed (with progress, with -v) or written, with the SBOM and
	// provenance unless -sbom=false. The provenance names the repository
	// and the commit, which the build itself only knows as an io/fs tree.
	c.Attest.Inputs = []attest.Input{{Kind: attest.KindGit, URI: sourceURI(c.repo), Commit: co.Commit, Ref: c.ref, Destination: c.dst}}
	ref, err := c.Publish(ctx, img)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, ref)
	return nil
}

// sourceURI is the repository's URL without credentials, query or
// fragment; a local path becomes a file:// URL.
func sourceURI(repo string) string {
	u, err := url.Parse(repo)
	if err != nil || u.Scheme == "" {
		abs, aerr := filepath.Abs(repo)
		if aerr != nil {
			abs = repo
		}
		return "file://" + filepath.ToSlash(abs)
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

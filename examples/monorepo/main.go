// Command monorepo builds the image of one service of a monorepo without
// reading the rest of it: the layer is the tree DIR/services/NAME, minus
// what DIR/services/NAME/.dockerignore excludes, at /app, and the
// entrypoint is /app/dist/NAME. Nothing outside services/NAME is opened or
// listed (the walk is confined to it with os.Root), so building one service
// costs the same whatever the size of the others; compare `docker build`,
// which sends the whole context to a daemon first.
//
// With no flags it generates a small demo monorepo (services api, web and
// worker, and a shared library) in the temp dir, builds its api service
// and writes monorepo.oci.tar:
//
//	go run ./examples/monorepo
//
// On a real repository:
//
//	go run ./examples/monorepo -repo ~/src/shop -service checkout \
//		-base cgr.dev/chainguard/static:latest \
//		-target registry.example.com/shop/checkout:v1
//
// The service's directory is layered from a cache (-cache) when nothing in
// it changed since the last build, at the cost of a stat walk. With
// -cache-repo REPO the layer is shared through a registry: a fresh clone
// on another machine reads the service once to hash it, finds the layer
// there, and its push mounts it instead of uploading it. The last
// line of stdout is REF@sha256:... or FILE@sha256:....
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/stevedore-dev/stevedore/examples/internal/cli"
	"github.com/stevedore-dev/stevedore/image"
	"github.com/stevedore-dev/stevedore/layer"
	"github.com/stevedore-dev/stevedore/registry"
)

func main() { cli.Main("monorepo", run) }

type config struct {
	cli.Common
	repo, service string
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("monorepo", flag.ContinueOnError)
	c := &config{}
	// -base, -target, -o, -cache, -cache-repo and -v.
	c.Register(fs, cli.Flags{Base: "scratch", Push: "target", CacheRepo: true})
	fs.StringVar(&c.repo, "repo", "", "the monorepo's root `DIR`, which holds services/NAME (default: a generated demo monorepo)")
	fs.StringVar(&c.service, "service", "", "the service to build, a directory `NAME` under DIR/services (default: api, with the demo monorepo)")
	cli.SetUsage(fs, "Builds the image of one service of a monorepo, reading nothing outside services/NAME; with no flags, a generated demo.")
	if err := c.Parse(fs, args, stderr); err != nil {
		return nil, err
	}
	switch {
	case c.repo == "" && c.service == "":
		c.service = "api"
	case c.repo != "" && c.service == "":
		return nil, errors.New("-service is required with -repo: name the directory under DIR/services to build")
	}
	if c.service == "." || c.service == ".." || strings.ContainsAny(c.service, `/\`) {
		return nil, fmt.Errorf("-service %q: want the name of one directory under DIR/services", c.service)
	}
	return c, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if c.repo == "" {
		dir, remove, err := cli.DemoDir("monorepo-demo-", writeDemo)
		if err != nil {
			return fmt.Errorf("generating the demo monorepo: %w", err)
		}
		defer remove()
		c.repo = dir
		c.Log.Printf("generated a demo monorepo in %s", c.repo)
	}

	svc := filepath.Join(c.repo, "services", c.service)
	app, err := serviceLayer(c, svc)
	if err != nil {
		return err
	}

	var base v1.Image
	if c.Base != "" {
		c.Log.Printf("pulling base %s", c.Base)
		if base, err = registry.Pull(ctx, c.Base); err != nil {
			return err
		}
	}
	iopts := []image.Option{
		image.WithLayers(app),
		image.WithEntrypoint("/app/dist/" + c.service),
	}
	// The caches serve the image too: image.WithCache keeps the index of
	// the base's files in -cache. When pushing, the layer is uploaded as
	// soon as it is built.
	uploads, err := c.UploadWhileBuilding(ctx)
	if err != nil {
		return err
	}
	defer c.CloseUploads()
	img, err := image.Build(ctx, base, slices.Concat(iopts, c.ImageOptions(), uploads)...)
	if err != nil {
		return err
	}
	// The layer as the image holds it, placed on the base (app, not placed,
	// can differ, and asking it would build it once more).
	if c.Log.Verbose {
		if ls, err := img.Layers(); err == nil && len(ls) > 0 {
			d, _ := ls[len(ls)-1].Digest()
			size, _ := ls[len(ls)-1].Size()
			c.Log.Printf("layer %s from %s: %d bytes", d, svc, size)
		}
	}

	// Pushed (with progress, with -v) or written.
	ref, err := c.Publish(ctx, img)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, ref)
	return nil
}

// demo is the generated monorepo: path -> content; a path ending in "/"
// is a directory, content starting with "#!" makes an executable.
var demo = map[string]string{
	"README.md":                         "# shop: a demo monorepo\n",
	"libs/shared/money.go":              "package shared\n",
	"services/api/.dockerignore":        "# what the image does not need\nsrc/**/*_test.go\nnode_modules\n*.log\n",
	"services/api/dist/api":             "#!/bin/sh\necho api\n",
	"services/api/config/api.yaml":      "listen: :8080\n",
	"services/api/src/main.go":          "package main\n",
	"services/api/src/main_test.go":     "package main\n",
	"services/api/node_modules/x/x.js":  "module.exports = 1\n",
	"services/api/debug.log":            "noise\n",
	"services/web/dist/web":             "#!/bin/sh\necho web\n",
	"services/web/public/index.html":    "<h1>shop</h1>\n",
	"services/worker/dist/worker":       "#!/bin/sh\necho worker\n",
	"services/worker/jobs/nightly.yaml": "cron: '0 3 * * *'\n",
}

// writeDemo creates the demo monorepo in dir.
func writeDemo(dir string) error { return cli.WriteFiles(dir, demo) }

// serviceLayer is the layer of the service directory svc, placed at /app
// and filtered by its .dockerignore. Only svc is looked at: a stat of it
// and of its .dockerignore, then a walk confined to it.
func serviceLayer(c *config, svc string) (v1.Layer, error) {
	if fi, err := os.Stat(svc); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("-service %s: %s is not a directory (services are the directories of %s)", c.service, svc, filepath.Dir(svc))
	}
	opts := []layer.Option{layer.WithRoot("/app")}
	ignore := filepath.Join(svc, ".dockerignore")
	switch fi, err := os.Lstat(ignore); {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, err
	case !fi.Mode().IsRegular():
		// A symlink could point outside the service: not followed.
		return nil, fmt.Errorf("%s is not a regular file (%v); make it one", ignore, fi.Mode().Type())
	default:
		c.Log.Printf("excluding what %s says", ignore)
		opts = append(opts, layer.WithIgnoreFile(ignore))
	}
	// The layer caches: -cache on this machine, -cache-repo shared by every
	// machine (a fresh clone elsewhere hashes the service and finds it).
	opts = append(opts, c.LayerOptions()...)
	return layer.FromDir(svc, opts...)
}

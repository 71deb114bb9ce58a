package main

import (
	"context"
	"fmt"
	"io/fs"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/stevedore-dev/stevedore/examples/internal/cli"
	"github.com/stevedore-dev/stevedore/image"
	"github.com/stevedore-dev/stevedore/image/dockerfile"
	"github.com/stevedore-dev/stevedore/layer"
	"github.com/stevedore-dev/stevedore/registry"
	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

// demoFiles is the demo context: the Node app of the README.
var demoFiles = map[string]string{
	"Dockerfile":                     "FROM node:12\nWORKDIR /src\nCOPY . .\nCMD [\"node\", \"app.js\"]\n",
	".dockerignore":                  "node_modules\n*.log\nDockerfile\n.dockerignore\n",
	"app.js":                         "require('http').createServer((q, s) => s.end('hello\\n')).listen(8080)\n",
	"package.json":                   "{\"name\": \"demo\", \"version\": \"1.0.0\"}\n",
	"debug.log":                      "not in the image\n",
	"node_modules/left-pad/index.js": "module.exports = s => s\n",
}

// demo is the offline setup: a context in a temp dir and a stand-in
// node:12 served by an in-process registry.
type demo struct {
	remove   func() // removes the context's temp dir
	srv      *registrytest.Server
	resolver dockerfile.Resolver
}

func (d *demo) close() {
	d.srv.Close()
	d.remove()
}

// startDemo writes the demo context, sets c.context to it, and serves the
// base.
func startDemo(ctx context.Context, c *config) (*demo, error) {
	dir, remove, err := cli.DemoDir("dockerbuild-demo-", func(dir string) error { return cli.WriteFiles(dir, demoFiles) })
	if err != nil {
		return nil, err
	}
	srv, err := registrytest.Start()
	if err != nil {
		remove()
		return nil, fmt.Errorf("starting the in-process registry: %w", err)
	}
	d := &demo{remove: remove, srv: srv}
	base := srv.Ref("library/node:12")
	if err := pushNodeBase(ctx, base); err != nil {
		d.close()
		return nil, err
	}
	c.context = dir
	c.Log.Printf("demo context in %s; node:12 is a stand-in served at %s", dir, base)
	d.resolver = func(ctx context.Context, ref string, p v1.Platform) (v1.Image, error) {
		if ref != "node:12" {
			return nil, fmt.Errorf("the demo serves node:12 only, not %s", ref)
		}
		img, err := cli.Resolver()(ctx, base, p)
		// Its address changes at every run: not recorded as the base.
		return cli.Anonymous(img), err
	}
	return d, nil
}

// pushNodeBase pushes a small stand-in for node:12 (passwd with a node
// user, a node script, node's config) for linux/amd64 and linux/arm64.
func pushNodeBase(ctx context.Context, ref string) error {
	files, err := layer.FromFiles([]layer.File{
		{Path: "/etc/passwd", Data: []byte("root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\n")},
		{Path: "/etc/group", Data: []byte("root:x:0:\nnode:x:1000:\n")},
		{Path: "/home/node", Mode: fs.ModeDir | 0o755},
		{Path: "/tmp", Mode: fs.ModeDir | fs.ModeSticky | 0o777},
		{Path: "/usr/local/bin/node", Data: []byte("#!/bin/sh\necho \"node (stand-in) $*\"\n"), Mode: 0o755},
	})
	if err != nil {
		return err
	}
	idx, err := image.BuildIndex(ctx, nil,
		image.WithPlatforms("linux/amd64", "linux/arm64"),
		image.WithLayers(files),
		image.WithEnv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
		image.WithEnv("NODE_VERSION", "12.22.12"),
		image.WithCmd("node"))
	if err != nil {
		return fmt.Errorf("building the demo base: %w", err)
	}
	if _, err := registry.PushIndex(ctx, ref, idx); err != nil {
		return fmt.Errorf("serving the demo base: %w", err)
	}
	return nil
}

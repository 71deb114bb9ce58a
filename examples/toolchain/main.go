// Command toolchain builds a Go toolchain image: a base image plus a Go
// installation at /usr/local/go (and, optionally, ko at /usr/local/bin/ko),
// with PATH, CGO_ENABLED=0, GOFLAGS=-trimpath and a /workspace working
// directory. No Docker daemon is involved.
//
// With no flags it works offline: it makes a minimal base image in-process
// (/etc/passwd, /etc/group, a 1777 /tmp and a PATH), serves it from an
// in-process registry and pulls it back as any base would be pulled, layers
// the Go installation running it (`go env GOROOT`) and writes the result to
// toolchain.oci.tar:
//
//	go run ./examples/toolchain
//
// Point it at real registries and a real Go release:
//
//	go run ./examples/toolchain \
//		-base cgr.dev/chainguard/static:latest \
//		-go-url https://go.dev/dl/go1.25.0.linux-amd64.tar.gz -go-sha256 SHA256_FROM_GO_DEV \
//		-ko-url https://github.com/ko-build/ko/releases/download/vX.Y.Z/ko_X.Y.Z_Linux_x86_64.tar.gz \
//		-target registry.example.com/team/toolchain:go1.25 -v
//
// Credentials come from the docker config ($DOCKER_CONFIG/config.json or
// ~/.docker/config.json, with its credential helpers), as for docker itself.
// Layers are cached in -cache, so a second run with the same inputs costs a
// stat walk of the Go tree and gives the same digest. With -cache-repo REPO
// they are shared through a registry: another machine building from the
// same inputs (a fresh checkout, a fresh cache) reads them once to hash
// them, finds the layers there, and its push mounts them instead of
// uploading them:
//
//	go run ./examples/toolchain -base registry.example.com/base:1 \
//		-cache-repo registry.example.com/team/cache \
//		-target registry.example.com/team/toolchain:go1.25 -v
//
// The last line of stdout is the result: REF@sha256:... after a push,
// FILE@sha256:... after a write.
//
// -compression estargz makes eStargz layers, which containerd's stargz
// snapshotter pulls lazily (the go and ko binaries first) and every other
// client pulls as gzip layers; -compression zstd:chunked makes zstd:chunked
// layers.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os/exec"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/stevedore-dev/stevedore/examples/internal/cli"
	"github.com/stevedore-dev/stevedore/image"
	"github.com/stevedore-dev/stevedore/layer"
	"github.com/stevedore-dev/stevedore/registry"
	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

func main() { cli.Main("toolchain", run) }

// config is what the flags say.
type config struct {
	cli.Common
	goURL, goSHA, koURL string
	platform            string
	platformSet         bool // -platform was given
	compression         layer.Compression
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("toolchain", flag.ContinueOnError)
	c := &config{}
	// -base, -target, -o, -cache, -cache-repo, -sbom and -v. The layer
	// caches: -cache on this machine, -cache-repo in a registry, shared by
	// every machine: what one built, the others find by the content of
	// their inputs.
	c.Register(fs, cli.Flags{
		Base: "a minimal base made in-process and served by an in-process registry",
		Push: "target", CacheRepo: true, SBOM: true,
	})
	fs.StringVar(&c.goURL, "go-url", "", "Go release tarball `URL` (or local path) with go/... inside (default: the Go installation running this, `go env GOROOT`)")
	fs.StringVar(&c.goSHA, "go-sha256", "", "verify the Go tarball against this sha256 `HEX`")
	fs.StringVar(&c.koURL, "ko-url", "", "ko release tarball `URL` (or local path); only its ko entry is kept, at /usr/local/bin/ko (default: no ko)")
	fs.StringVar(&c.platform, "platform", "linux/amd64", "`OS/ARCH[/VARIANT]` of the image (without -go-url and -platform: the local Go's, when it is a linux one)")
	comp := fs.String("compression", "gzip", "layer compression: gzip, zstd, or, for lazy pulling, estargz or zstd:chunked (go and ko prioritized)")
	cli.SetUsage(fs, "Builds a Go (+ ko) toolchain image; with no flags, offline from the local Go installation.")
	if err := c.Parse(fs, args, stderr); err != nil {
		return nil, err
	}
	for _, lc := range compressions {
		if *comp == lc.String() {
			c.compression = lc
		}
	}
	if c.compression == 0 {
		return nil, fmt.Errorf("-compression %q: want gzip, zstd, estargz or zstd:chunked", *comp)
	}
	fs.Visit(func(f *flag.Flag) { c.platformSet = c.platformSet || f.Name == "platform" })
	if c.goSHA != "" && c.goURL == "" {
		return nil, errors.New("-go-sha256 verifies -go-url: give -go-url too")
	}
	if _, err := v1.ParsePlatform(c.platform); err != nil || !strings.Contains(c.platform, "/") {
		return nil, fmt.Errorf("-platform %q: want os/arch or os/arch/variant, like linux/arm64", c.platform)
	}
	return c, nil
}

// compressions are the values of -compression, by their String().
var compressions = []layer.Compression{layer.Gzip, layer.Zstd, layer.EStargz, layer.ZstdChunked}

// compressionOptions are the layer options of -compression; for the lazy
// formats, the layer's main binary (an image path) comes first.
func (c *config) compressionOptions(binary string) []layer.Option {
	opts := append(c.LayerOptions(), layer.WithCompression(c.compression))
	if c.compression == layer.EStargz || c.compression == layer.ZstdChunked {
		opts = append(opts, layer.WithPrioritizedFiles(binary))
	}
	return opts
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	start := time.Now()

	// Without -go-url, the Go installation running this goes in the image;
	// unless told otherwise, the image is for its platform (on a linux/arm64
	// machine, a linux/arm64 image).
	var local *localInstall
	if c.goURL == "" {
		if local, err = localGo(ctx); err != nil {
			return err
		}
		if !c.platformSet && local.host.OS == "linux" {
			c.platform = "linux/" + local.host.Architecture
		}
	}

	// The base: pulled from -base, or made here and served by an in-process
	// registry, so that the pull is exactly what a real base goes through.
	base, closeBase, err := c.pullBase(ctx)
	if err != nil {
		return err
	}
	defer closeBase()

	// The layers: Go, and maybe ko.
	layers, err := c.layers(ctx, local)
	if err != nil {
		return err
	}

	// The image. Build computes the new layers (tar, compress, hash) here,
	// or finds them in the caches.
	iopts := []image.Option{
		image.WithLayers(layers...),
		image.WithPathPrepend("/usr/local/go/bin"),
		image.WithEnv("CGO_ENABLED", "0"),
		image.WithEnv("GOFLAGS", "-trimpath"),
		image.WithWorkDir("/workspace"),
	}
	// The /workspace layer, and the index of the base's files that layers
	// are placed on, come from the caches too (image.WithCache,
	// image.WithRemoteCache).
	iopts = append(iopts, c.ImageOptions()...)
	// When pushing, each layer is uploaded as soon as it is built, while
	// the next one is built.
	uploads, err := c.UploadWhileBuilding(ctx)
	if err != nil {
		return err
	}
	defer c.CloseUploads()
	img, err := image.Build(ctx, base, append(iopts, uploads...)...)
	if err != nil {
		return err
	}
	if err := c.logLayers(img, len(layers)); err != nil {
		return err
	}
	c.Log.Printf("image built in %s", time.Since(start).Round(time.Millisecond))

	// Pushed (with progress, with -v) or written, with the SBOM and
	// provenance unless -sbom=false.
	ref, err := c.Publish(ctx, img)
	if err != nil {
		return err
	}
	c.Log.Printf("done in %s", time.Since(start).Round(time.Millisecond))
	fmt.Fprintln(stdout, ref)
	return nil
}

// pullBase pulls the base image of -base, or, without it, makes the
// minimal base, serves it from an in-process registry and pulls it from
// there. The image is read until closeBase is called.
func (c *config) pullBase(ctx context.Context) (base v1.Image, closeBase func(), err error) {
	if c.Base != "" {
		c.Log.Printf("pulling base %s (%s)", c.Base, c.platform)
		base, err = registry.Pull(ctx, c.Base, registry.WithPlatform(c.platform))
		return base, func() {}, err
	}
	srv, err := registrytest.Start()
	if err != nil {
		return nil, nil, fmt.Errorf("starting the in-process registry: %w", err)
	}
	ref := srv.Ref("stevedore/minimal-base:latest")
	if err := pushMinimalBase(ctx, ref, c.platform); err != nil {
		srv.Close()
		return nil, nil, err
	}
	c.Log.Printf("pulling the minimal base from the in-process registry: %s", ref)
	img, err := registry.Pull(ctx, ref, registry.WithPlatform(c.platform))
	if err != nil {
		srv.Close()
		return nil, nil, err
	}
	// Its address changes at every run: do not record it as the base.
	return cli.Anonymous(img), srv.Close, nil
}

// layers returns the layers the image adds: Go, and ko with -ko-url.
func (c *config) layers(ctx context.Context, local *localInstall) ([]v1.Layer, error) {
	goLayer, err := c.goLayer(ctx, local)
	if err != nil {
		return nil, err
	}
	layers := []v1.Layer{goLayer}
	if c.koURL != "" {
		c.Log.Printf("ko: %s (only its ko entry, at /usr/local/bin/ko)", c.koURL)
		ko, err := fromURLOrFile(ctx, c.koURL,
			append(c.compressionOptions("/usr/local/bin/ko"), layer.WithOnly("ko"), layer.WithRoot("/usr/local/bin"))...)
		if err != nil {
			return nil, fmt.Errorf("-ko-url: %w", err)
		}
		layers = append(layers, ko)
	}
	return layers, nil
}

// logLayers prints, with -v, the digest and size of the last n layers of
// img: the layers as the image has them (placed on the base: see
// image.Build), not the layers passed, which describe them alone.
func (c *config) logLayers(img v1.Image, n int) error {
	all, err := img.Layers()
	if err != nil {
		return err
	}
	for _, l := range all[len(all)-n:] {
		d, _ := l.Digest()
		size, _ := l.Size()
		c.Log.Printf("layer %s: %.1f MB", d, float64(size)/1e6)
	}
	return nil
}

// goLayer returns the layer holding Go at /usr/local/go: from -go-url, or
// the local installation.
func (c *config) goLayer(ctx context.Context, local *localInstall) (v1.Layer, error) {
	opts := c.compressionOptions("/usr/local/go/bin/go")
	if c.goURL != "" {
		c.Log.Printf("go: %s", c.goURL)
		// Release tarballs hold go/...: keep only that, under /usr/local.
		opts = append(opts, layer.WithOnly("go"), layer.WithRoot("/usr/local"))
		if c.goSHA != "" {
			opts = append(opts, layer.WithSHA256(c.goSHA))
		}
		l, err := fromURLOrFile(ctx, c.goURL, opts...)
		if err != nil {
			return nil, fmt.Errorf("-go-url: %w", err)
		}
		return l, nil
	}

	want, _ := v1.ParsePlatform(c.platform)
	if want.OS != local.host.OS || want.Architecture != local.host.Architecture {
		return nil, fmt.Errorf("-platform %s: the local Go installation (%s, %s) is for %s/%s; give -go-url with a %s/%s release tarball",
			c.platform, local.goroot, local.version, local.host.OS, local.host.Architecture, want.OS, want.Architecture)
	}
	c.Log.Printf("go: %s from %s", local.version, local.goroot)
	return layer.FromDir(local.goroot, append(opts, layer.WithRoot("/usr/local/go"))...)
}

// localInstall describes the Go installation running this program.
type localInstall struct {
	goroot  string
	host    v1.Platform
	version string
}

// localGo asks the go command on PATH where its installation is.
func localGo(ctx context.Context) (*localInstall, error) {
	goroot, host, version, err := goEnv(ctx)
	if err != nil {
		return nil, err
	}
	return &localInstall{goroot: goroot, host: host, version: version}, nil
}

func goEnv(ctx context.Context) (goroot string, host v1.Platform, version string, err error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOROOT", "GOHOSTOS", "GOHOSTARCH", "GOVERSION").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, strings.TrimSpace(string(ee.Stderr)))
		}
		return "", v1.Platform{}, "", fmt.Errorf("finding the local Go installation with `go env GOROOT` (install Go, or give -go-url): %w", err)
	}
	f := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(f) != 4 || f[0] == "" {
		return "", v1.Platform{}, "", fmt.Errorf("finding the local Go installation: unexpected `go env` output %q (give -go-url)", out)
	}
	return f[0], v1.Platform{OS: f[1], Architecture: f[2]}, f[3], nil
}

// fromURLOrFile layers a tarball from an http(s) URL, or from a local path
// (or file:// URL).
func fromURLOrFile(ctx context.Context, src string, opts ...layer.Option) (v1.Layer, error) {
	if u, err := url.Parse(src); err == nil {
		switch u.Scheme {
		case "http", "https":
			return layer.FromURL(ctx, src, opts...)
		case "file":
			return layer.FromTarball(u.Path, opts...)
		}
	}
	return layer.FromTarball(src, opts...)
}

// pushMinimalBase builds the default base, the least an image needs to run
// a Go toolchain as root or as a named user, and pushes it to ref.
func pushMinimalBase(ctx context.Context, ref, platform string) error {
	files, err := layer.FromFiles([]layer.File{
		{Path: "/etc/passwd", Data: []byte("root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n")},
		{Path: "/etc/group", Data: []byte("root:x:0:\nnogroup:x:65534:\n")},
		{Path: "/root", Mode: fs.ModeDir | 0o700},
		{Path: "/tmp", Mode: fs.ModeDir | fs.ModeSticky | 0o777},
	})
	if err != nil {
		return err
	}
	img, err := image.Build(ctx, nil,
		image.WithPlatform(platform),
		image.WithLayers(files),
		image.WithEnv("PATH", image.DefaultPath),
	)
	if err != nil {
		return fmt.Errorf("building the minimal base: %w", err)
	}
	if _, err := registry.Push(ctx, ref, img); err != nil {
		return fmt.Errorf("serving the minimal base: %w", err)
	}
	return nil
}

// Command goapp packs a Go program into a tiny image, as ko does: one
// `CGO_ENABLED=0 go build -trimpath` per platform, the binary at
// /app/NAME on a base (scratch by default), the entrypoint set to it and a
// non-root user (65532). With more than one platform the result is an image
// index.
//
// The platforms are the base's (linux/amd64 on scratch), or those of
// -platforms; a base that is a single image and not an index works too.
// The base is checked before anything is compiled: a platform the base
// lacks is an error listing the ones it has.
//
// With no flags it packs the hello-world program it carries (hello/, built
// in a temporary module) for linux/amd64 and writes goapp.oci.tar:
//
//	go run ./examples/goapp
//
// Pack your own program and push it:
//
//	go run ./examples/goapp -pkg ./cmd/server \
//		-base cgr.dev/chainguard/static:latest \
//		-platforms linux/amd64,linux/arm64 \
//		-target registry.example.com/team/server:v1
//
// The binary's layer is cached in -cache by content: rebuilding unchanged
// source (go build is reproducible with -trimpath) reuses the cached layer
// and gives the same digest. With -cache-repo REPO the layers are shared
// through a registry: a CI machine building the same source finds them
// there, and its push mounts them instead of uploading them. The image
// size is printed on stderr; the last line of stdout is REF@sha256:... or
// FILE@sha256:....
package main

import (
	"context"
	_ "embed"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/stevedore-dev/stevedore/examples/internal/cli"
	"github.com/stevedore-dev/stevedore/image"
	"github.com/stevedore-dev/stevedore/layer"
	"github.com/stevedore-dev/stevedore/registry"
)

//go:embed hello/main.go
var helloSource []byte

func main() { cli.Main("goapp", run) }

type config struct {
	cli.Common
	pkg       string
	platforms []string
	user      string
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("goapp", flag.ContinueOnError)
	c := &config{}
	// -base, -target, -o, -cache, -cache-repo, -sbom and -v.
	c.Register(fs, cli.Flags{Base: "scratch", Push: "target", CacheRepo: true, SBOM: true})
	fs.StringVar(&c.pkg, "pkg", "", "the main package `PATH` to build, as for go build (default: the hello-world program goapp carries)")
	platforms := fs.String("platforms", "", "comma-separated `OS/ARCH[/VARIANT]` list; more than one makes an image index (default: the base's platforms; linux/amd64 on scratch)")
	fs.StringVar(&c.user, "user", "65532", "`USER` the container runs as (uid, uid:gid or name)")
	cli.SetUsage(fs, "Packs a Go main package into a tiny image (one static binary per platform); with no flags, a hello-world.")
	if err := c.Parse(fs, args, stderr); err != nil {
		return nil, err
	}
	for _, p := range strings.Split(*platforms, ",") {
		p = strings.TrimSpace(p)
		if p == "" && *platforms == "" {
			break
		}
		if _, err := v1.ParsePlatform(p); err != nil || strings.Count(p, "/") < 1 {
			return nil, fmt.Errorf("-platforms: %q is not os/arch or os/arch/variant (like linux/arm64)", p)
		}
		if slices.Contains(c.platforms, p) {
			return nil, fmt.Errorf("-platforms: %s is listed twice", p)
		}
		c.platforms = append(c.platforms, p)
	}
	return c, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "goapp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	// The package: -pkg, or the carried hello-world in a temporary module.
	pkg, dir := c.pkg, ""
	if pkg == "" {
		dir = filepath.Join(work, "hello")
		if err := writeHello(dir); err != nil {
			return err
		}
		pkg = "."
	}
	name, err := mainPackageName(ctx, dir, pkg)
	if err != nil {
		return err
	}

	// The base (any reference: an image or an index), checked before
	// anything is compiled.
	var base image.Artifact
	if c.Base != "" {
		if base, err = registry.PullAny(ctx, c.Base); err != nil {
			return err
		}
	}
	opts := []image.IndexOption{
		image.WithEntrypoint("/app/" + name),
		image.WithUser(c.user),
		// One binary, and one layer, per platform, built when BuildAny
		// knows the platforms.
		image.WithPlatformLayers(func(p v1.Platform) ([]v1.Layer, error) {
			return c.binaryLayer(ctx, work, dir, pkg, name, p)
		}),
	}
	if len(c.platforms) > 0 {
		opts = append(opts, image.WithPlatforms(c.platforms...))
	}
	// The caches serve the image too: image.WithCache keeps the index of
	// the base's files in -cache. When pushing, each platform's layer is
	// uploaded while the next platform's binary is compiled.
	uploads, err := c.UploadWhileBuilding(ctx)
	if err != nil {
		return err
	}
	defer c.CloseUploads()
	for _, o := range slices.Concat(c.ImageOptions(), uploads) {
		opts = append(opts, o)
	}
	result, err := image.BuildAny(ctx, base, opts...)
	if err != nil {
		return err
	}
	if err := printSizes(stderr, result); err != nil {
		return err
	}

	// Pushed (with progress, with -v) or written, with the SBOM and
	// provenance unless -sbom=false.
	ref, err := c.Publish(ctx, result)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, ref)
	return nil
}

// binaryLayer builds pkg for platform p and returns the layer holding the
// binary at /app/NAME.
func (c *config) binaryLayer(ctx context.Context, work, dir, pkg, name string, p v1.Platform) ([]v1.Layer, error) {
	bin := filepath.Join(work, strings.ReplaceAll(p.String(), "/", "_"), name)
	c.Log.Printf("go build %s for %s", pkg, p.String())
	if err := goBuild(ctx, dir, pkg, p, bin); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	// An in-memory file: the cache key is its content, so an unchanged
	// binary finds its layer in the caches: -cache on this machine,
	// -cache-repo shared by every machine (a binary built elsewhere from
	// the same source is found there).
	l, err := layer.FromFiles([]layer.File{{Path: "/app/" + name, Data: data, Mode: 0o755}}, c.LayerOptions()...)
	if err != nil {
		return nil, err
	}
	return []v1.Layer{l}, nil
}

// writeHello writes the carried hello-world program as a module in dir.
func writeHello(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module hello\n\ngo 1.22\n"), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "main.go"), helloSource, 0o644)
}

var majorVersion = regexp.MustCompile(`^v[0-9]+$`)

// mainPackageName checks that pkg is a main package and returns the name
// of its binary, as go install would name it.
func mainPackageName(ctx context.Context, dir, pkg string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-f", "{{.Name}} {{.ImportPath}}", pkg)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go list %s: %w: %s", pkg, err, strings.TrimSpace(string(out)))
	}
	kind, importPath, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
	if kind != "main" {
		return "", fmt.Errorf("-pkg %s: package %s is not a main package (it is package %s)", pkg, importPath, kind)
	}
	name := path.Base(importPath)
	if majorVersion.MatchString(name) && path.Dir(importPath) != "." {
		name = path.Base(path.Dir(importPath))
	}
	return name, nil
}

// goBuild builds a static binary of pkg for platform p into out. The go
// command's own work directory goes beside out (GOTMPDIR), so that run
// removes it with its own even when a cancelled go build, killed, could
// not.
func goBuild(ctx context.Context, dir, pkg string, p v1.Platform, out string) error {
	tmp := filepath.Join(filepath.Dir(out), "gotmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Architecture, "GOTMPDIR="+tmp)
	if p.Architecture == "arm" && strings.HasPrefix(p.Variant, "v") {
		cmd.Env = append(cmd.Env, "GOARM="+strings.TrimPrefix(p.Variant, "v"))
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s for %s: %w: %s", pkg, p.String(), err, strings.TrimSpace(string(b)))
	}
	return nil
}

// printSize prints what pulling img costs: its compressed layers and its
// config.
func printSize(w io.Writer, platform string, img v1.Image) error {
	m, err := img.Manifest()
	if err != nil {
		return err
	}
	size := m.Config.Size
	for _, l := range m.Layers {
		size += l.Size
	}
	layers := "layers"
	if len(m.Layers) == 1 {
		layers = "layer"
	}
	fmt.Fprintf(w, "image %s: %s (%d %s and config, compressed)\n", platform, humanSize(size), len(m.Layers), layers)
	return nil
}

// printSizes prints the size of the image, or of each image of the index.
func printSizes(w io.Writer, a image.Artifact) error {
	switch a := a.(type) {
	case v1.ImageIndex:
		return printIndexSize(w, a)
	case v1.Image:
		cf, err := a.ConfigFile()
		if err != nil {
			return err
		}
		return printSize(w, cf.Platform().String(), a)
	}
	return fmt.Errorf("%T is neither an image nor an index", a)
}

func printIndexSize(w io.Writer, idx v1.ImageIndex) error {
	im, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	for _, d := range im.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			return err
		}
		p := "unknown"
		if d.Platform != nil {
			p = d.Platform.String()
		}
		if err := printSize(w, p, img); err != nil {
			return err
		}
	}
	return nil
}

func humanSize(n int64) string {
	switch {
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}

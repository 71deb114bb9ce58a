package dockerfile

import (
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"runtime"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/stevedore-dev/stevedore/internal/option"
	"github.com/stevedore-dev/stevedore/internal/platform"
)

// Resolver returns the image that ref (a FROM or COPY --from image
// reference, as written after ARG expansion: "node:12",
// "cgr.dev/chainguard/static@sha256:...") names for platform. The examples
// build one on registry.Pull; a test can return images made in memory.
type Resolver func(ctx context.Context, ref string, platform v1.Platform) (v1.Image, error)

// GitCloner returns the tree of ref (a branch, tag or commit; "" for the
// default branch) of the repository at url, and the commit's hash, for
// ADD of a git URL.
type GitCloner func(ctx context.Context, url, ref string) (tree fs.FS, commit string, err error)

// Option configures Build and BuildIndex.
type Option func(*options) error

type options struct {
	contextDir    string
	contextFS     fs.FS
	dockerfile    string
	content       []byte
	contentSet    bool
	resolver      Resolver
	buildArgs     map[string]string
	target        string
	platforms     []v1.Platform
	platformsSet  bool // WithPlatforms given: the images take the target's platform
	buildPlatform v1.Platform
	cacheDir      string
	progress      func(Event)
	httpClient    *http.Client
	gitClone      GitCloner
}

func optErr(name, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidOption, name, fmt.Sprintf(format, args...))
}

func makeOptions(opts []Option) (*options, error) {
	o := &options{
		contextDir:    ".",
		buildArgs:     map[string]string{},
		buildPlatform: v1.Platform{OS: "linux", Architecture: runtime.GOARCH},
	}
	if err := option.Apply(o, opts); err != nil {
		return nil, err
	}
	if len(o.platforms) == 0 {
		o.platforms = []v1.Platform{o.buildPlatform}
	}
	return o, nil
}

// WithContextDir sets the build context: a directory on the host. COPY
// and ADD read only what they name in it (a walk confined to each source,
// through os.Root), minus what .dockerignore excludes. The default is ".".
func WithContextDir(dir string) Option {
	return func(o *options) error {
		if dir == "" {
			return optErr("WithContextDir", "empty directory")
		}
		o.contextDir, o.contextFS = dir, nil
		return nil
	}
}

// WithContextFS sets the build context to an io/fs tree, such as a git
// commit cloned in memory; symlinks are kept when fsys implements
// fs.ReadLinkFS. The default is the directory of WithContextDir.
func WithContextFS(fsys fs.FS) Option {
	return func(o *options) error {
		if fsys == nil {
			return optErr("WithContextFS", "nil fs.FS")
		}
		o.contextFS = fsys
		return nil
	}
}

// WithDockerfile names the Dockerfile: a host path (as for os.Open, like
// docker build -f) with WithContextDir, a path inside the tree with
// WithContextFS. Its NAME.dockerignore beside it takes precedence over the
// context's .dockerignore, as with docker build. The default is
// "Dockerfile" in the context.
func WithDockerfile(path string) Option {
	return func(o *options) error {
		if path == "" {
			return optErr("WithDockerfile", "empty path")
		}
		o.dockerfile, o.contentSet = path, false
		return nil
	}
}

// WithDockerfileContent gives the Dockerfile's text directly; errors name
// it "Dockerfile". The default is to read the file of WithDockerfile.
func WithDockerfileContent(content []byte) Option {
	return func(o *options) error {
		o.content, o.contentSet = append([]byte(nil), content...), true
		return nil
	}
}

// WithResolver sets how FROM and COPY --from image references become
// images. The default is none: a Dockerfile that names an image (anything
// but scratch and its own stages) fails with ErrNoResolver.
func WithResolver(r Resolver) Option {
	return func(o *options) error {
		if r == nil {
			return optErr("WithResolver", "nil Resolver")
		}
		o.resolver = r
		return nil
	}
}

// WithBuildArg sets the build argument key to value, like docker build
// --build-arg: the value of ARG key (before or after FROM), overriding its
// default. Predefined arguments (TARGETPLATFORM, BUILDARCH, ...) can be
// overridden too. Arguments the Dockerfile never declares are ignored.
// The default is no build arguments.
func WithBuildArg(key, value string) Option {
	return func(o *options) error {
		if key == "" || strings.ContainsAny(key, "= \t\n") {
			return optErr("WithBuildArg", "key %q must be non-empty, without '=' or spaces", key)
		}
		o.buildArgs[key] = value
		return nil
	}
}

// WithBuildArgs is WithBuildArg for each entry of args. The default is no
// build arguments.
func WithBuildArgs(args map[string]string) Option {
	return func(o *options) error {
		for k, v := range args {
			if err := WithBuildArg(k, v)(o); err != nil {
				return err
			}
		}
		return nil
	}
}

// WithTarget builds the stage named stage (FROM ... AS stage) and the
// stages it needs, not the last one. The default is the last stage.
func WithTarget(stage string) Option {
	return func(o *options) error {
		if stage == "" {
			return optErr("WithTarget", "empty stage name")
		}
		o.target = strings.ToLower(stage)
		return nil
	}
}

// WithPlatforms sets the target platforms ("linux/amd64", "linux/arm/v7"),
// normalized as docker build's --platform is ("linux/arm" is
// linux/arm/v7, "linux/aarch64" linux/arm64, "linux/arm64/v8"
// linux/arm64): Build takes one, BuildIndex one image per platform, each
// built from the Dockerfile with TARGETPLATFORM, TARGETOS, TARGETARCH and TARGETVARIANT
// set and its FROM images resolved for it; each image is of its target
// platform even when the last stage's FROM --platform names another, as
// with docker build --platform. The default is the build platform (see
// WithBuildPlatform), the image then keeping the platform of the last
// stage's base, as with docker build without --platform.
func WithPlatforms(platforms ...string) Option {
	return func(o *options) error {
		if len(platforms) == 0 {
			return optErr("WithPlatforms", "no platform")
		}
		o.platforms, o.platformsSet = nil, true
		for _, s := range platforms {
			p, err := platformArg("WithPlatforms", s)
			if err != nil {
				return err
			}
			o.platforms = append(o.platforms, p)
		}
		return nil
	}
}

// WithBuildPlatform sets the platform the build runs on, which
// BUILDPLATFORM, BUILDOS, BUILDARCH and BUILDVARIANT name (FROM
// --platform=$BUILDPLATFORM). The default is linux on this machine's
// architecture, as docker build on a Linux host.
func WithBuildPlatform(platform string) Option {
	return func(o *options) (err error) {
		o.buildPlatform, err = platformArg("WithBuildPlatform", platform)
		return err
	}
}

// WithCache keeps every COPY, ADD and WORKDIR layer in the layer cache dir
// (see layer.WithCache: an unchanged context costs a stat walk), and the
// indexes of base image layers that COPY --chown=name, WORKDIR and COPY
// --from read. The default is no cache.
func WithCache(dir string) Option {
	return func(o *options) error {
		if dir == "" {
			return optErr("WithCache", "empty directory")
		}
		o.cacheDir = dir
		return nil
	}
}

// WithProgress calls f with every Event of the build, one call at a time,
// in order (see NewJSONWriter for docker's JSON stream). The default is no
// progress.
func WithProgress(f func(Event)) Option {
	return func(o *options) error {
		if f == nil {
			return optErr("WithProgress", "nil function")
		}
		o.progress = f
		return nil
	}
}

// WithHTTPClient sets the client that downloads ADD URLs. The default is
// http.DefaultClient.
func WithHTTPClient(c *http.Client) Option {
	return func(o *options) error {
		if c == nil {
			return optErr("WithHTTPClient", "nil client")
		}
		o.httpClient = c
		return nil
	}
}

// WithGitCloner sets how ADD of a git URL (https://host/repo.git#ref:dir)
// fetches the tree. The default clones into memory with go-git (no git
// binary, nothing on disk).
func WithGitCloner(c GitCloner) Option {
	return func(o *options) error {
		if c == nil {
			return optErr("WithGitCloner", "nil GitCloner")
		}
		o.gitClone = c
		return nil
	}
}

// parsePlatform parses os/arch[/variant], normalized as BuildKit
// normalizes the platforms it builds for and resolves images for.
func parsePlatform(s string) (v1.Platform, error) {
	p, err := v1.ParsePlatform(s)
	if err != nil {
		return v1.Platform{}, fmt.Errorf("platform %q: %w", s, err)
	}
	if p.OS == "" || p.Architecture == "" || !strings.Contains(s, "/") {
		return v1.Platform{}, fmt.Errorf("platform %q: want os/arch[/variant]", s)
	}
	return platform.Normalize(*p), nil
}

// platformArg is parsePlatform for an argument of the option opt.
func platformArg(opt, s string) (v1.Platform, error) {
	p, err := parsePlatform(s)
	if err != nil {
		return v1.Platform{}, optErr(opt, "%v", err)
	}
	return p, nil
}

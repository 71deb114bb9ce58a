// Command dockerbuild builds a Dockerfile that runs no command (no RUN)
// without a Docker daemon or a container runtime, as docker build would:
//
//	dockerbuild [flags] CONTEXT
//
// FROM images are pulled (credentials from the docker config, as for
// docker itself), COPY and ADD become layers, and the image (or, with
// several -platform values, an OCI index) is pushed with -t or written as
// an OCI tarball with -o (image.oci.tar by default). The last line of
// stdout is REF@sha256:... after a push, FILE@sha256:... after a write;
// progress goes to stderr (-progress plain, or json: docker's JSON message
// stream, as the daemon's ImageBuild response).
//
// With no CONTEXT it works offline: it writes a demo Node app (FROM
// node:12 / WORKDIR /src / COPY . . / CMD ["node", "app.js"]) and serves
// a small stand-in node:12 from an in-process registry:
//
//	go run ./examples/dockerbuild
//
// On a real context:
//
//	go run ./examples/dockerbuild -t registry.example.com/team/app:v1 \
//		-platform linux/amd64,linux/arm64 -build-arg VERSION=1.2 ./app
//
// Layers are cached in -cache: building an unchanged context again costs a
// stat walk. A Dockerfile that RUNs a command fails at once, naming the
// file, the line and the instruction.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/stevedore-dev/stevedore/examples/internal/cli"
	"github.com/stevedore-dev/stevedore/image"
	"github.com/stevedore-dev/stevedore/image/dockerfile"
	"github.com/stevedore-dev/stevedore/registry"
)

func main() { cli.Main("dockerbuild", run) }

// config is what the flags say.
type config struct {
	cli.Common // -t (Target), -o, -cache and -v
	context    string
	file       string
	buildArgs  []string
	platforms  []string
	stage      string // -target
	progress   string
}

// listFlag is a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("dockerbuild", flag.ContinueOnError)
	c := &config{Common: cli.Common{Log: cli.Logger{W: stderr}}}
	var platforms string
	// -t, as docker build says it, -o, -cache and -v.
	c.Register(fs, cli.Flags{Push: "t", Out: "image.oci.tar", VerboseHelp: "print details on stderr"})
	fs.StringVar(&c.file, "f", "", "the Dockerfile `FILE` (default CONTEXT/Dockerfile)")
	fs.Var((*listFlag)(&c.buildArgs), "build-arg", "set a build argument, `KEY=VALUE` (repeatable)")
	fs.StringVar(&platforms, "platform", "", "target `PLATFORMS`, comma-separated os/arch[/variant]; several make an index (default: linux on this machine's architecture)")
	fs.StringVar(&c.stage, "target", "", "build the `STAGE` named so, not the last one")
	fs.StringVar(&c.progress, "progress", "auto", "progress on stderr: auto (plain on a terminal), plain, or json (docker's JSON message stream)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: dockerbuild [flags] CONTEXT\n\nBuilds a Dockerfile without RUN, without a daemon; with no CONTEXT, an offline demo.\n\n")
		fs.PrintDefaults()
	}
	fs.SetOutput(stderr)
	// Flags may come after CONTEXT, as with docker build.
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %w", cli.ErrUsage, err)
		}
		if fs.NArg() == 0 {
			break
		}
		if c.context != "" {
			return nil, fmt.Errorf("unexpected argument %q: dockerbuild takes one CONTEXT", fs.Arg(0))
		}
		c.context, rest = fs.Arg(0), fs.Args()[1:]
	}
	if err := c.Check(); err != nil {
		return nil, err
	}
	for _, kv := range c.buildArgs {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return nil, fmt.Errorf("-build-arg %q: want KEY=VALUE", kv)
		}
	}
	if platforms != "" {
		c.platforms = strings.Split(platforms, ",")
	}
	switch c.progress {
	case "auto", "plain", "json":
	default:
		return nil, fmt.Errorf("-progress %q: want auto, plain or json", c.progress)
	}
	return c, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	start := time.Now()
	resolver := cli.Resolver()
	if c.context == "" {
		demo, err := startDemo(ctx, c)
		if err != nil {
			return err
		}
		defer demo.close()
		resolver = demo.resolver
	}

	events, jsonw := c.progressTo(stderr)
	opts := c.buildOptions(resolver, events)
	var result image.Artifact
	if len(c.platforms) > 1 {
		result, err = dockerfile.BuildIndex(ctx, opts...)
	} else {
		result, err = dockerfile.Build(ctx, opts...)
	}
	if err != nil {
		if jsonw != nil {
			jsonw.Error(err)
		}
		return err
	}
	c.Log.Printf("built in %s", time.Since(start).Round(time.Millisecond))

	var popts []registry.Option
	var done func()
	if jsonw != nil && c.Target != "" {
		popts = append(popts, cli.PushEvents(jsonw.Event))
		done = func() {}
	} else {
		popts, done = cli.Progress(stderr, c.Log.Verbose && c.Target != "")
	}
	ref, err := cli.Publish(ctx, result, c.Target, c.Out, "latest", popts...)
	done()
	if err != nil {
		if jsonw != nil {
			jsonw.Error(err)
		}
		return err
	}
	if jsonw != nil && c.Target != "" {
		jsonw.Tagged(c.Target)
	}
	c.Log.Printf("done in %s", time.Since(start).Round(time.Millisecond))
	fmt.Fprintln(stdout, ref)
	return nil
}

// buildOptions are the dockerfile options the flags say.
func (c *config) buildOptions(resolver dockerfile.Resolver, events func(dockerfile.Event)) []dockerfile.Option {
	opts := []dockerfile.Option{
		dockerfile.WithContextDir(c.context),
		dockerfile.WithResolver(resolver),
		dockerfile.WithProgress(events),
	}
	if c.file != "" {
		opts = append(opts, dockerfile.WithDockerfile(c.file))
	}
	for _, kv := range c.buildArgs {
		k, v, _ := strings.Cut(kv, "=")
		opts = append(opts, dockerfile.WithBuildArg(k, v))
	}
	if len(c.platforms) > 0 {
		opts = append(opts, dockerfile.WithPlatforms(c.platforms...))
	}
	if c.stage != "" {
		opts = append(opts, dockerfile.WithTarget(c.stage))
	}
	if c.CacheDir != "" {
		opts = append(opts, dockerfile.WithCache(c.CacheDir))
	}
	return opts
}

// progressTo returns the progress function for -progress, writing to
// stderr, and the JSON writer with -progress json.
func (c *config) progressTo(stderr io.Writer) (func(dockerfile.Event), *dockerfile.JSONWriter) {
	mode := c.progress
	if mode == "auto" {
		mode = "none"
		if f, ok := stderr.(*os.File); (ok && term.IsTerminal(int(f.Fd()))) || c.Log.Verbose {
			mode = "plain"
		}
	}
	switch mode {
	case "json":
		w := dockerfile.NewJSONWriter(stderr)
		return w.Event, w
	case "plain":
		return func(e dockerfile.Event) { plain(stderr, e, c.Log.Verbose) }, nil
	}
	return func(dockerfile.Event) {}, nil
}

// plain prints an event as one line, as docker build --progress=plain
// would say it.
func plain(w io.Writer, e dockerfile.Event, verbose bool) {
	prefix := ""
	if e.Platform != "" {
		prefix = "[" + e.Platform + "] "
	}
	switch e.Kind {
	case dockerfile.EventStep:
		fmt.Fprintf(w, "%s#%d/%d %s\n", prefix, e.Step, e.Steps, e.Instruction)
	case dockerfile.EventCached:
		fmt.Fprintf(w, "%s#%d CACHED\n", prefix, e.Step)
	case dockerfile.EventLayer:
		if verbose {
			fmt.Fprintf(w, "%s#%d layer %s (%d bytes)\n", prefix, e.Step, e.Digest, e.Size)
		}
	case dockerfile.EventImage:
		fmt.Fprintf(w, "%simage %s (config %s)\n", prefix, e.Digest, e.ImageID)
	}
}

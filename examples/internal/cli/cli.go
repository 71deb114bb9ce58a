// Package cli holds the few lines every example program shares: running a
// program with a cancellable context and a one-line error; the common
// flags (-base, -target, -o, -cache, -cache-repo, -sbom, -v: see Common)
// and the layer caches they make; publishing the result (push to a
// registry, or write an OCI tarball) and printing its digest reference.
//
// It is deliberately small: each example's main.go keeps the stevedore calls
// a reader wants to copy, and this package only keeps boilerplate out of
// their way.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/stevedore-dev/stevedore/image"
	"github.com/stevedore-dev/stevedore/registry"
	"github.com/stevedore-dev/stevedore/registry/progressbar"
)

// RunFunc is the shape of every example's run function: args without the
// program name; the result's reference on the last line of stdout; logs
// and progress on stderr.
type RunFunc func(ctx context.Context, args []string, stdout, stderr io.Writer) error

// ErrUsage marks a command-line error that the flag package has already
// reported (with the usage) on stderr.
var ErrUsage = errors.New("usage error")

// Main runs run with os.Args[1:], os.Stdout and os.Stderr under a context
// cancelled by SIGINT or SIGTERM, and exits: 0 on success (and for -h),
// 2 on a usage error, 1 otherwise after printing "name: error" as one line
// on stderr.
func Main(name string, run RunFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.Is(err, ErrUsage):
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "%s: %s\n", name, OneLine(err))
		os.Exit(1)
	}
}

// OneLine returns err's text on a single line: newlines (from tool output
// or joined errors) become "; ".
func OneLine(err error) string {
	s := strings.TrimSpace(err.Error())
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\n' }), "; ")
}

// Parse parses args with fs, whose output it sets to stderr. It returns
// flag.ErrHelp for -h, ErrUsage (already reported with the usage) for a
// bad flag, and an error for positional arguments, which no example takes.
func Parse(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: %s takes only flags (see -h)", fs.Arg(0), fs.Name())
	}
	return nil
}

// DefaultCacheDir is the user cache directory plus "/stevedore"
// (~/.cache/stevedore on Linux), or "" when the system has no user cache
// directory (then layers are not cached).
func DefaultCacheDir() string {
	d, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "stevedore")
}

// Logger prints progress lines on stderr when verbose.
type Logger struct {
	W       io.Writer
	Verbose bool
}

// Printf prints one line when verbose.
func (l Logger) Printf(format string, args ...any) {
	if l.Verbose {
		fmt.Fprintf(l.W, format+"\n", args...)
	}
}

// Publish pushes a (a v1.Image or a v1.ImageIndex) to target when target is
// not empty, and otherwise writes it to the OCI tarball file, named
// refName in its index.json. It returns "REF@sha256:..." for a push and
// "FILE@sha256:..." for a file (the digest of the manifest the file holds:
// an artifact of the Docker family is written with OCI media types, see
// image.ToOCI).
func Publish(ctx context.Context, a image.Artifact, target, file, refName string, opts ...registry.Option) (string, error) {
	if target != "" {
		p, err := registry.NewPusher(ctx, target, opts...)
		if err != nil {
			return "", err
		}
		defer p.Close()
		return pushWith(p, a)
	}
	var wopts []image.WriteOption
	if refName != "" {
		wopts = append(wopts, image.WithRefName(refName))
	}
	a, err := image.ToOCI(a)
	if err != nil {
		return "", err
	}
	if err := image.WriteOCITarball(ctx, file, a, wopts...); err != nil {
		return "", err
	}
	h, err := a.Digest()
	if err != nil {
		return "", err
	}
	return file + "@" + h.String(), nil
}

// pushWith pushes a (a v1.Image or a v1.ImageIndex) with p and returns
// "REF@sha256:...".
func pushWith(p *registry.Pusher, a image.Artifact) (string, error) {
	d, err := p.PushAny(a)
	if err != nil {
		return "", err
	}
	return d.String(), nil
}

// Anonymous hides the Reference method of an image pulled with
// registry.Pull, so that image.Build does not record it as the base
// (org.opencontainers.image.base.name). The examples use it for the bases
// they serve from an in-process registry: its address changes at every
// run, and recording it would change the digest at every run.
func Anonymous(img v1.Image) v1.Image { return anonymous{img} }

type anonymous struct{ v1.Image }

// Progress returns the registry option that draws push progress on stderr
// (bars on a terminal, plain lines otherwise), and the function to call
// once the push returned. When on is false it returns no option.
func Progress(stderr io.Writer, on bool) (opts []registry.Option, done func()) {
	if !on {
		return nil, func() {}
	}
	bar := progressbar.New(stderr)
	return []registry.Option{registry.WithProgress(bar.Update)}, bar.Close
}

// SetUsage makes fs print "usage: NAME [flags]", what, and the flags.
func SetUsage(fs *flag.FlagSet, what string) {
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: %s [flags]\n\n%s\n\n", fs.Name(), what)
		fs.PrintDefaults()
	}
}

// Command push pushes an image (or an index) from an OCI layout directory,
// an OCI tarball or a `docker save` tarball to a registry, with credentials
// from the command line or the docker config, and a progress bar on stderr
// (plain lines when stderr is not a terminal, as in CI logs). The kind of
// file is told by its content, not its name.
//
// With no flags it works offline: it builds a small image, writes it to an
// OCI tarball, starts an in-process registry that demands a generated user
// name and password, and pushes the tarball there with them:
//
//	go run ./examples/push
//
// Push a real image, with the password on stdin (never on the command
// line, where other users of the machine can see it):
//
//	echo "$TOKEN" | go run ./examples/push -image app.oci.tar \
//		-target registry.example.com/team/app:v1 -username ci -password-stdin
//
// A file of several images needs -name: the entry's
// org.opencontainers.image.ref.name in an OCI layout or tarball, a repo tag
// (such as app:v2) in a docker tarball; the error without it lists them.
// Entries named sha256-<hex> that hold the referrers of another (the SBOM
// and provenance goapp and toolchain write beside their image) are not
// counted: the image is pushed, then its referrers.
//
// Without -username, credentials come from the docker config
// ($DOCKER_CONFIG/config.json or ~/.docker/config.json, with its credential
// helpers). Errors are the registry package's: they say which registry and
// repository refused what, and where the credentials came from. The last
// line of stdout is REF@sha256:....
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/stevedore-dev/stevedore/examples/internal/cli"
	"github.com/stevedore-dev/stevedore/image"
	"github.com/stevedore-dev/stevedore/layer"
	"github.com/stevedore-dev/stevedore/registry"
	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

func main() { cli.Main("push", runWith(os.Stdin)) }

type config struct {
	image, name, target string
	username            string
	passwordStdin       bool
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("push", flag.ContinueOnError)
	c := &config{}
	fs.StringVar(&c.image, "image", "", "the image to push: an OCI layout directory, or an OCI or docker save tarball `FILE` (default: a small generated image)")
	fs.StringVar(&c.name, "name", "", "pick the entry of -image named `NAME`: its org.opencontainers.image.ref.name, or a docker tarball's repo tag (default: its only entry)")
	fs.StringVar(&c.target, "target", "", "push to `REF` (default, with no -image: an in-process registry with generated credentials)")
	fs.StringVar(&c.username, "username", "", "registry `USER`; the password is read from stdin (-password-stdin) (default: the docker config's credentials)")
	fs.BoolVar(&c.passwordStdin, "password-stdin", false, "read the password (or token) for -username from stdin")
	cli.SetUsage(fs, "Pushes an OCI layout, an OCI tarball or a docker tarball to a registry, with a progress bar; with no flags, a demo image to an in-process registry.")
	if err := cli.Parse(fs, args, stderr); err != nil {
		return nil, err
	}
	switch {
	case c.image != "" && c.target == "":
		return nil, errors.New("-target is required with -image: name the repository to push to")
	case c.username != "" && !c.passwordStdin:
		return nil, errors.New("-username needs -password-stdin: pipe the password in (it never goes on the command line)")
	case c.passwordStdin && c.username == "":
		return nil, errors.New("-password-stdin needs -username")
	case c.username != "" && c.target == "":
		return nil, errors.New("-username is for -target: the in-process registry uses generated credentials")
	}
	return c, nil
}

// runWith returns the program's run function, reading a password from
// stdin.
func runWith(stdin io.Reader) cli.RunFunc {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		return run(ctx, args, stdin, stdout, stderr)
	}
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	var opts []registry.Option
	if c.username != "" {
		pw, err := readPassword(stdin)
		if err != nil {
			return err
		}
		opts = append(opts, registry.WithBasicAuth(c.username, pw))
	}

	if c.image == "" {
		tmp, err := os.MkdirTemp("", "push-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		c.image = filepath.Join(tmp, "hello.oci.tar")
		if err := writeDemoImage(ctx, c.image); err != nil {
			return fmt.Errorf("writing the demo image: %w", err)
		}
	}
	if c.target == "" {
		user, pass := "demo-"+randomHex(4), randomHex(16)
		srv, err := registrytest.Start(registrytest.WithBasicAuth(user, pass))
		if err != nil {
			return fmt.Errorf("starting the in-process registry: %w", err)
		}
		defer srv.Close()
		c.target = srv.Ref("demo/hello:latest")
		opts = append(opts, registry.WithBasicAuth(user, pass))
		fmt.Fprintf(stderr, "pushing to an in-process registry (user %s, generated password), which stops when push exits; give -target to push somewhere real\n", user)
	}

	a, layout, closeImage, err := open(c.image, c.name)
	if err != nil {
		return err
	}
	defer closeImage()

	// A progress bar on a terminal, plain lines otherwise.
	popts, done := cli.Progress(stderr, true)
	opts = append(opts, popts...)
	// An image or an index: PushAny takes both.
	d, err := registry.PushAny(ctx, c.target, a, opts...)
	if err == nil {
		// The SBOM and provenance goapp and toolchain write beside it.
		var n int
		if n, err = pushReferrers(ctx, layout, a, c.target, opts); n > 0 {
			fmt.Fprintf(stderr, "pushed %d referrers (SBOM, provenance) of %s\n", n, d.DigestStr())
		}
	}
	done()
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, d)
	return nil
}

// pick returns the image or index of the layout's entry named name, or of
// its only entry that is not the referrers of another (see isReferrers).
func pick(l *image.Layout, name string) (image.Artifact, error) {
	im, err := l.Index().IndexManifest()
	if err != nil {
		return nil, err
	}
	var found []v1.Descriptor
	var names []string
	for _, d := range im.Manifests {
		n := d.Annotations[image.RefNameAnnotation]
		names = append(names, fmt.Sprintf("%q", n))
		if name == "" && !isReferrers(d) || n == name {
			found = append(found, d)
		}
	}
	switch {
	case len(found) == 0:
		return nil, fmt.Errorf("no entry named %q (names: %s): %w", name, strings.Join(names, ", "), image.ErrNotFound)
	case len(found) > 1:
		return nil, fmt.Errorf("%w: %d entries (names: %s); pick one with -name", image.ErrAmbiguous, len(found), strings.Join(names, ", "))
	case found[0].MediaType.IsIndex():
		return l.Index().ImageIndex(found[0].Digest)
	default:
		return l.Index().Image(found[0].Digest)
	}
}

// readPassword reads a password from stdin, without its final newline.
func readPassword(stdin io.Reader) (string, error) {
	b, err := io.ReadAll(io.LimitReader(stdin, 64<<10))
	if err != nil {
		return "", fmt.Errorf("reading the password from stdin: %w", err)
	}
	pw := strings.TrimRight(string(b), "\r\n")
	if pw == "" {
		return "", errors.New("-password-stdin: stdin is empty; pipe the password in")
	}
	return pw, nil
}

// writeDemoImage writes a small image to an OCI tarball.
func writeDemoImage(ctx context.Context, path string) error {
	// 4 MiB that do not compress, for the progress bar to show; from a
	// fixed seed, so the image is the same at every run.
	noise := make([]byte, 4<<20)
	_, _ = mrand.NewChaCha8([32]byte{}).Read(noise)
	l, err := layer.FromFiles([]layer.File{
		{Path: "/hello.txt", Data: []byte("hello from examples/push\n")},
		{Path: "/data/noise.bin", Data: noise},
	})
	if err != nil {
		return err
	}
	img, err := image.Build(ctx, nil, image.WithLayers(l), image.WithCmd("/hello.txt"))
	if err != nil {
		return err
	}
	return image.WriteOCITarball(ctx, path, img)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

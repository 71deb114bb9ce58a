package cli

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"slices"

	"github.com/stevedore-dev/stevedore/attest"
	"github.com/stevedore-dev/stevedore/image"
	"github.com/stevedore-dev/stevedore/layer"
	"github.com/stevedore-dev/stevedore/registry"
)

// Flags says which of the common flags [Common.Register] defines, and the
// words in which one example's flags differ from the others'. -cache and
// -v are always defined.
type Flags struct {
	// Base, when set, defines -base REF, the base image; Base says what
	// the image is built on without it ("scratch").
	Base string
	// Push, when set, is the name of the flag that pushes the image to a
	// REF ("target"; dockerbuild says "t", as docker build does), and
	// defines -o FILE, which writes an OCI tarball instead.
	Push string
	// Out is the file -o stands for when neither it nor the Push flag is
	// given. The default is NAME.oci.tar, NAME the flag set's name.
	Out string
	// CacheRepo defines -cache-repo REPO, a layer cache shared through a
	// registry.
	CacheRepo bool
	// SBOM defines -sbom, on by default as in ko.
	SBOM bool
	// CacheHelp replaces the help of -cache, "layer cache `DIR` (empty:
	// no cache)".
	CacheHelp string
	// VerboseHelp replaces the help of -v, "print progress on stderr".
	VerboseHelp string
}

// Common holds the flags the examples share (see [Flags]) and what they
// make: the layer caches, and the way the result is published.
type Common struct {
	Base      string // -base, "" for the example's own base
	Target    string // the Push flag (-target): where to push, "" to write Out
	Out       string // -o: the OCI tarball to write; Check sets its default
	CacheDir  string // -cache, "" for no local cache
	CacheRepo string // -cache-repo, "" for no shared cache
	SBOM      bool   // -sbom
	Log       Logger // -v sets Log.Verbose; Parse sets Log.W

	// Attest is what the SBOM and provenance of -sbom say beyond what
	// image.Build recorded (see attest.Options): the inputs Build only
	// saw as files, such as a git repository's commit.
	Attest attest.Options

	// Caches are the layer caches of -cache and -cache-repo, made by
	// Check.
	Caches *Caches

	flags   Flags
	uploads *pushing // UploadWhileBuilding's
}

// Register defines on fs the common flags f picks, with their usual help.
func (c *Common) Register(fs *flag.FlagSet, f Flags) {
	if f.Out == "" {
		f.Out = fs.Name() + ".oci.tar"
	}
	c.flags = f
	if f.Base != "" {
		fs.StringVar(&c.Base, "base", "", "base image `REF` (default: "+f.Base+")")
	}
	if f.Push != "" {
		fs.StringVar(&c.Target, f.Push, "", "push the image to `REF`; without it the image is written with -o")
		fs.StringVar(&c.Out, "o", "", "write the image to `FILE` as an OCI tarball (default "+f.Out+" when there is no -"+f.Push+")")
	}
	cacheHelp := cmp.Or(f.CacheHelp, "layer cache `DIR` (empty: no cache)")
	fs.StringVar(&c.CacheDir, "cache", DefaultCacheDir(), cacheHelp)
	if f.CacheRepo {
		fs.StringVar(&c.CacheRepo, "cache-repo", "", "share built layers through the OCI repository `REPO` (for example registry.example.com/team/cache): a layer another machine built from the same inputs is neither rebuilt nor uploaded; credentials as for -"+cmp.Or(f.Push, "target"))
	}
	if f.SBOM {
		fs.BoolVar(&c.SBOM, "sbom", true, "attach an SPDX SBOM and a SLSA provenance statement to the image, as OCI referrers (with -o: inside the tarball); -sbom=false to turn off")
	}
	fs.BoolVar(&c.Log.Verbose, "v", false, cmp.Or(f.VerboseHelp, "print progress on stderr"))
}

// Parse parses args as the package's [Parse] does, with the logs on
// stderr, and checks the common flags (see [Common.Check]).
func (c *Common) Parse(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	c.Log.W = stderr
	if err := Parse(fs, args, stderr); err != nil {
		return err
	}
	return c.Check()
}

// Check checks the common flags once parsed: the Push flag and -o may not
// both be given, and with neither Out is set to its default. It makes the
// layer caches of -cache and -cache-repo (see Caches), reporting to
// Log.
func (c *Common) Check() error {
	if p := c.flags.Push; p != "" {
		if c.Target != "" && c.Out != "" {
			return fmt.Errorf("-%s and -o: give one (push to a registry, or write a file)", p)
		}
		if c.Target == "" && c.Out == "" {
			c.Out = c.flags.Out
		}
	}
	var err error
	c.Caches, err = newCaches(c.CacheDir, c.CacheRepo, c.Log)
	return err
}

// LayerOptions returns the layer options of -cache and -cache-repo: a
// layer built with them is looked up in the caches, and stored there.
func (c *Common) LayerOptions() []layer.Option {
	return slices.Clone(c.Caches.Options)
}

// ImageOptions returns the image options of -cache and -cache-repo:
// image.WithCache keeps the index of the base's files in the local cache,
// and image.WithRemoteCache shares the layers image.Build makes itself.
func (c *Common) ImageOptions() []image.Option {
	var opts []image.Option
	if c.CacheDir != "" {
		opts = append(opts, image.WithCache(c.CacheDir))
	}
	if c.Caches.Remote != nil {
		opts = append(opts, image.WithRemoteCache(c.Caches.Remote))
	}
	return opts
}

// UploadWhileBuilding returns, when the image is pushed (Target set), the
// image.Build option that sends each layer to Target as soon as it is
// built, while the next one is built (image.WithLayerBuilt with a
// registry.Pusher, drawing progress on Log.W with -v); [Common.Publish]
// then pushes the rest with the same Pusher. Without Target it returns no
// option. Call it once, before Build, and CloseUploads when the build
// fails (Publish closes it otherwise; CloseUploads is then a no-op).
func (c *Common) UploadWhileBuilding(ctx context.Context) ([]image.Option, error) {
	if c.Target == "" {
		return nil, nil
	}
	u, err := c.startPush(ctx)
	if err != nil {
		return nil, err
	}
	c.uploads = u
	return []image.Option{image.WithLayerBuilt(u.p.Upload)}, nil
}

// CloseUploads stops the uploads UploadWhileBuilding started, if Publish
// has not used them.
func (c *Common) CloseUploads() {
	if c.uploads != nil {
		c.uploads.close()
		c.uploads = nil
	}
}

// pushing is a push to Target, maybe begun during the build.
type pushing struct {
	p    *registry.Pusher
	opts []registry.Option // progress, for the referrers too
	done func()            // closes the progress display
}

func (c *Common) startPush(ctx context.Context) (*pushing, error) {
	opts, done := Progress(c.Log.W, c.Log.Verbose)
	p, err := registry.NewPusher(ctx, c.Target, opts...)
	if err != nil {
		done()
		return nil, err
	}
	return &pushing{p: p, opts: opts, done: done}, nil
}

func (u *pushing) close() {
	u.p.Close()
	u.done()
}

// Publish pushes a (a v1.Image or a v1.ImageIndex) to Target, drawing the
// push's progress on Log.W with -v (with the uploads of
// [Common.UploadWhileBuilding], if it was called), or writes it to the OCI
// tarball Out, named "latest" in its index.json (see the package's
// [Publish]). With -sbom, the image's SBOM and provenance go with it:
// attest.Of makes them from what image.Build recorded and from Attest, and
// they go to the registry as referrers of the image
// (registry.PushReferrers) or into the OCI tarball (attest.OCIEntries). It
// returns the reference to print.
func (c *Common) Publish(ctx context.Context, a image.Artifact) (string, error) {
	if c.Target == "" {
		if !c.SBOM {
			return Publish(ctx, a, "", c.Out, "latest")
		}
		ref, n, err := writeAttested(ctx, a, c.Out, "latest", c.Attest)
		if err == nil {
			c.Log.Printf("attached %d artifacts (SBOM and provenance)", n)
		}
		return ref, err
	}
	u := c.uploads
	c.uploads = nil
	if u == nil {
		var err error
		if u, err = c.startPush(ctx); err != nil {
			return "", err
		}
	}
	defer u.close()
	ref, err := pushWith(u.p, a)
	if err != nil || !c.SBOM {
		return ref, err
	}
	n, err := attachAttestations(ctx, a, c.Target, c.Attest, u.opts...)
	if err != nil {
		return "", err
	}
	c.Log.Printf("attached %d artifacts (SBOM and provenance)", n)
	return ref, nil
}

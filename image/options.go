package image

import (
	"fmt"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/stevedore-dev/stevedore/internal/option"
	"github.com/stevedore-dev/stevedore/layer"
)

// Option configures [Build], [BuildIndex] and [BuildAny]: the layers to
// add and the config edits. Options are applied in order; when two set
// the same thing, the later one wins. Nil options are ignored.
type Option func(*options) error

// IndexOption configures [BuildIndex] and [BuildAny]: every Option, plus
// [WithPlatforms] and [WithPlatformLayers], which only an index has.
type IndexOption interface {
	applyIndex(*options) error
}

func (f Option) applyIndex(o *options) error { return f(o) }

// indexOption is an option that only [BuildIndex] and [BuildAny] take.
type indexOption func(*options) error

func (f indexOption) applyIndex(o *options) error { return f(o) }

// WriteOption configures [WriteOCILayout] and [WriteOCITarball]. Nil
// options are ignored.
type WriteOption func(*writeOptions) error

type writeOptions struct {
	refName string
	extra   []entry // WithEntry
}

// entry is an artifact and the name of its index.json entry.
type entry struct {
	refName string
	a       Artifact
}

// configEdit is one config change, applied in option order.
type configEdit struct {
	apply func(*editState) error
	// history is the created_by text of the empty_layer history entry
	// recorded for this edit when WithConfigHistory is set.
	history string
}

// editState is the config being edited plus what the rules between edits
// need to know.
type editState struct {
	cf     *v1.ConfigFile
	cmdSet bool // WithCmd was given before (Docker keeps such a Cmd on ENTRYPOINT)
}

type options struct {
	layers         []v1.Layer
	platformLayers func(v1.Platform) ([]v1.Layer, error)
	platforms      []v1.Platform
	platform       *v1.Platform
	edits          []configEdit
	workDir        string
	annotations    map[string]string
	created        *time.Time
	configHistory  bool
	oci            bool
	cacheDir       string
	ix             *indexer // WithTrees
	remoteCache    layer.RemoteCache
	skipUnchanged  bool
	history        []v1.History // WithHistory
	historySet     bool
	noEmptyLayer   bool
	layerBuilt     []func(v1.Layer) // WithLayerBuilt
}

// errOption reports an invalid option argument.
func errOption(opt string, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidOption, opt, fmt.Sprintf(format, args...))
}

func makeOptions(opts []Option) (*options, error) {
	o := &options{}
	if err := option.Apply(o, opts); err != nil {
		return nil, err
	}
	return o, nil
}

func makeIndexOptions(opts []IndexOption) (*options, error) {
	o := &options{}
	for _, opt := range opts {
		switch opt := opt.(type) {
		case nil:
		case Option:
			if err := option.Apply(o, []Option{opt}); err != nil {
				return nil, err
			}
		case indexOption:
			if err := option.Apply(o, []indexOption{opt}); err != nil {
				return nil, err
			}
		}
	}
	return o, nil
}

func makeWriteOptions(opts []WriteOption) (*writeOptions, error) {
	o := &writeOptions{}
	if err := option.Apply(o, opts); err != nil {
		return nil, err
	}
	// Readers disagree on which of two entries of one name they pick.
	names := map[string]bool{o.refName: o.refName != ""}
	for _, e := range o.extra {
		if names[e.refName] {
			return nil, errOption("WithEntry", "name %q is given twice", e.refName)
		}
		names[e.refName] = true
	}
	return o, nil
}

func (o *options) edit(history string, f func(*editState) error) {
	o.edits = append(o.edits, configEdit{apply: f, history: history})
}

// WithLayers appends layers to the image, in order, after the base's layers
// (and after the working-directory layer of [WithWorkDir], if any). Each
// layer is re-typed, with the same bytes, to the media type family of the
// image (see [Build]); the layers of package layer are placed on the image
// below them (see [Build]). Several WithLayers options add up. In
// [BuildIndex] these layers go into every platform, before that platform's
// own layers from [WithPlatformLayers]. The default is no added layers.
func WithLayers(layers ...v1.Layer) Option {
	return func(o *options) error {
		for i, l := range layers {
			if l == nil {
				return errOption("WithLayers", "layer %d is nil", i)
			}
		}
		o.layers = append(o.layers, layers...)
		return nil
	}
}

// WithLayerHistory is [WithLayers] with the created_by text of the
// layers' history entries given: for layers that do not say what made them
// (ggcr's own layers, for one), instead of "stevedore: layer sha256:...".
// The default is the layer's own CreatedBy() text, if it has one.
func WithLayerHistory(createdBy string, layers ...v1.Layer) Option {
	return func(o *options) error {
		if createdBy == "" {
			return errOption("WithLayerHistory", "empty created_by")
		}
		for i, l := range layers {
			if l == nil {
				return errOption("WithLayerHistory", "layer %d is nil", i)
			}
		}
		for _, l := range layers {
			o.layers = append(o.layers, describe(l, createdBy))
		}
		return nil
	}
}

// WithPlatformLayers gives [BuildIndex] a function returning the layers of
// one platform; they are appended after the shared layers of [WithLayers].
// The function is called once per platform built. The default is no
// per-platform layers.
func WithPlatformLayers(f func(v1.Platform) ([]v1.Layer, error)) IndexOption {
	return indexOption(func(o *options) error {
		if f == nil {
			return errOption("WithPlatformLayers", "function is nil")
		}
		o.platformLayers = f
		return nil
	})
}

// WithPlatforms picks the platforms [BuildIndex] builds, such as
// "linux/amd64" or "linux/arm/v7". With a base index, each must match at
// least one image of the base (a platform without a variant matches any
// variant); images of other platforms are left out, and a platform the
// base lacks is an error listing those it has. Without a base, it lists
// the platforms of the scratch index. The default is every platform of
// the base index, and linux/amd64 from scratch.
func WithPlatforms(platforms ...string) IndexOption {
	return indexOption(func(o *options) error {
		if len(platforms) == 0 {
			return errOption("WithPlatforms", "no platform given")
		}
		ps := make([]v1.Platform, 0, len(platforms))
		for _, s := range platforms {
			p, err := parsePlatform("WithPlatforms", s)
			if err != nil {
				return err
			}
			ps = append(ps, *p)
		}
		o.platforms = ps
		return nil
	})
}

// WithPlatform sets the platform ("linux/arm64", "linux/arm/v7") of an image
// built from scratch. For a non-nil base the platform comes from the base's
// config and WithPlatform must agree with it (else [Build] fails with
// [ErrPlatformMismatch]). [BuildIndex] takes [WithPlatforms] instead. The
// default is linux/amd64 for scratch.
func WithPlatform(platform string) Option {
	return func(o *options) (err error) {
		o.platform, err = parsePlatform("WithPlatform", platform)
		return err
	}
}

// parsePlatform parses s, an os/arch[/variant] platform given to the
// option opt.
func parsePlatform(opt, s string) (*v1.Platform, error) {
	p, err := v1.ParsePlatform(s)
	if err != nil {
		return nil, errOption(opt, "platform %q: %v", s, err)
	}
	if p.OS == "" || p.Architecture == "" || p.OS == "unknown" || p.Architecture == "unknown" {
		return nil, errOption(opt, "platform %q: want os/arch[/variant]", s)
	}
	return p, nil
}

// WithAnnotation sets the manifest annotation key to value; in [BuildIndex]
// it goes on the index and on every image of it. Annotations need OCI media
// types (Docker schema 2 manifests have no annotations field): on an image
// of the Docker family, use [WithOCIMediaTypes] too, or [Build] fails with
// [ErrAnnotationsNeedOCI]. An explicit annotation overrides the automatic
// base-image annotations (see [Build]). The default is no annotations other
// than the automatic ones; the base manifest's own annotations describe the
// base and are not carried over.
func WithAnnotation(key, value string) Option {
	return func(o *options) error {
		if key == "" {
			return errOption("WithAnnotation", "empty key")
		}
		put(&o.annotations, key, value)
		return nil
	}
}

// WithCreated sets the image's created time, also used for the history
// entries this package adds. The default is the time in SOURCE_DATE_EPOCH
// (seconds since the Unix epoch) when that is set, else the base's created
// time, and for scratch the Unix epoch: rebuilding the same inputs gives the
// same digest.
func WithCreated(t time.Time) Option {
	return func(o *options) error {
		if t.IsZero() {
			return errOption("WithCreated", "zero time")
		}
		t := t.UTC()
		o.created = &t
		return nil
	}
}

// WithConfigHistory records, for every config edit (WithEnv, WithCmd,
// WithLabel, ...), an empty_layer history entry saying what was changed, as
// `docker build` does for ENV or CMD. They come after the entries of the
// added layers, in option order. The default is no such entries: history
// then has exactly one entry per added layer.
func WithConfigHistory() Option {
	return func(o *options) error {
		o.configHistory = true
		return nil
	}
}

// WithOCIMediaTypes converts an image of the Docker family (Docker schema 2
// manifest and config) to OCI media types: manifest, config and every layer
// are re-typed, with the same bytes and so the same layer digests. In
// [BuildIndex] the index becomes an OCI image index. The default is to keep
// the family of the base (scratch is OCI), except that a zstd layer forces
// OCI.
func WithOCIMediaTypes() Option {
	return func(o *options) error {
		o.oci = true
		return nil
	}
}

// WithCache keeps the file index of every base layer in dir (the layer
// package's cache directory serves, see layer.WithCache): the tree that
// added layers are placed on (see [Build]) then costs neither a download
// nor a decompression for a base already seen. The default is to index
// base layers in memory, for this build only; they are read only when an
// added layer must be built (not when it comes from its cache).
func WithCache(dir string) Option {
	return func(o *options) error {
		if dir == "" {
			return errOption("WithCache", "empty directory")
		}
		o.cacheDir = dir
		return nil
	}
}

// WithTrees makes Build index the base's layers with t's indexes, as
// [Tree.TreeOf] does: a layer that t, or a tree made from it, has indexed
// is not indexed again, and new indexes are kept with t's (and in its
// cache directory, which then replaces [WithCache]'s). A program that
// builds image after image on the last one (the steps of a Dockerfile)
// then reads each base layer once. The default is indexes for this
// build only.
func WithTrees(t *Tree) Option {
	return func(o *options) error {
		if t == nil {
			return errOption("WithTrees", "nil tree")
		}
		o.ix = t.ix
		return nil
	}
}

// indexer is the indexer of the base's layers: WithTrees's, else one of
// this build's own.
func (o *options) indexer() *indexer {
	if o.ix != nil {
		return o.ix
	}
	return newIndexer(o.cacheDir)
}

// WithRemoteCache shares the layer Build makes itself for [WithWorkDir]
// through rc, as layer.WithRemoteCache does for the layers given, so that
// an image built on several machines has no layer that only one of them
// can push without uploading it. The default is no remote cache.
func WithRemoteCache(rc layer.RemoteCache) Option {
	return func(o *options) error {
		if rc == nil {
			return errOption("WithRemoteCache", "nil cache")
		}
		o.remoteCache = rc
		return nil
	}
}

// WithSkipUnchanged leaves out of the added layers of package layer what
// the image below them already has exactly so: regular files with the
// same content, mode and owner, symlinks with the same target and owner,
// directories with the same mode and owner (times do not count). Adding a
// tree that mostly repeats the base (a toolchain over an image that ships
// part of it) then costs only what differs. Files are compared with the
// base's content digests, so the base is indexed (see [WithCache]). The
// default is to write every entry the layers hold.
func WithSkipUnchanged() Option {
	return func(o *options) error {
		o.skipUnchanged = true
		return nil
	}
}

// WithoutEmptyLayer lets Build make an image with no layer when there is
// nothing to add, instead of adding the empty layer it otherwise gives such
// an image. go-containerregistry and runtimes take images without layers,
// but the image spec's JSON schema does not: use it for images that are
// only steps to another one (a Dockerfile's stages, say). The default is
// one empty layer for an image that would have none.
func WithoutEmptyLayer() Option {
	return func(o *options) error {
		o.noEmptyLayer = true
		return nil
	}
}

// WithLayerBuilt calls f with each layer Build (or BuildIndex) adds, as
// soon as that layer is built: its digest, diff ID and size known, its
// bytes ready to read, before the next layer is built. Layers are
// handed over in order, on Build's goroutine, with their final media
// type for the image's family; f must return quickly (start work, do not
// wait for it). Its use: registry.Pusher's Upload sends each layer while
// the next one is built, and the push that follows finds it there. A
// layer may be handed over and then not be in the image, when Build
// fails after it. The default is no call.
func WithLayerBuilt(f func(v1.Layer)) Option {
	return func(o *options) error {
		if f == nil {
			return errOption("WithLayerBuilt", "nil function")
		}
		o.layerBuilt = append(o.layerBuilt, f)
		return nil
	}
}

// RefNameAnnotation is the annotation of an OCI layout's index.json entry
// that names it, read by `skopeo copy oci:dir:NAME` and `umoci unpack
// --image dir:NAME`.
const RefNameAnnotation = "org.opencontainers.image.ref.name"

// WithRefName names the image or index in the OCI layout written by
// [WriteOCILayout] or [WriteOCITarball]: its index.json entry gets the
// annotation org.opencontainers.image.ref.name=name (a tag such as "latest"
// or "v1.2"). [WriteOCILayout] moves the name from an entry that had it
// before, removing that entry from index.json. The default is no name.
func WithRefName(name string) WriteOption {
	return func(o *writeOptions) error {
		if err := checkRefName("WithRefName", name); err != nil {
			return err
		}
		o.refName = name
		return nil
	}
}

// WithEntry also writes a, with an index.json entry named refName (as
// [WithRefName] names the main one; an entry of that name already in a
// layout is replaced; a name given twice to one write is an error). attest.OCIEntries uses it to carry an image's SBOM
// and provenance in an OCI tarball, as the referrers tag scheme does in a
// registry. a is converted with [ToOCI], like the main artifact.
func WithEntry(refName string, a Artifact) WriteOption {
	return func(o *writeOptions) error {
		if err := checkRefName("WithEntry", refName); err != nil {
			return err
		}
		if a == nil {
			return errOption("WithEntry", "nil artifact for %q", refName)
		}
		o.extra = append(o.extra, entry{refName, a})
		return nil
	}
}

// checkRefName checks a name of an index.json entry given to the option
// opt.
func checkRefName(opt, name string) error {
	if name == "" || strings.ContainsAny(name, " \t\n") {
		return errOption(opt, "name %q must be non-empty without whitespace", name)
	}
	return nil
}

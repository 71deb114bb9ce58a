package dockerfile

import (
	"context"
	"fmt"
	"io/fs"
	"net/http"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/stevedore-dev/stevedore/image"
	"github.com/stevedore-dev/stevedore/internal/platform"
	"github.com/stevedore-dev/stevedore/layer"
)

// This file is the only one that calls the layer and image packages: the
// parts a COPY, ADD or WORKDIR plans become layer sources here, and the
// stage's image is extended here.

// partKind is what a part of a layer is.
type partKind int

const (
	partDir    partKind = iota + 1 // a context directory's contents under dst
	partFSDir                      // an fs.FS tree's contents under dst
	partFile                       // one host file at dst
	partBytes                      // one in-memory file at dst
	partDirs                       // directories (names), created with mode and owner
	partTar                        // a tar archive extracted under dst
	partURL                        // a download saved as the file dst
	partURLTar                     // a downloaded archive extracted under dst
)

// part is one source of a layer, in this package's terms.
type part struct {
	kind          partKind
	host          string // host path: directory, file or tarball
	fsys          fs.FS
	dst           string // absolute: root of a tree, or a file's name
	matchPrefix   string // context path of a directory source (filters)
	includes      []string
	excludes      []string
	data          []byte
	mode          fs.FileMode
	names         []string // partDirs: clean relative directories
	own           *owner
	preserveOwner bool
	chmod         string
	url           string
	sha256        string // hex, verified (and the cache key of temp tarballs)
}

// builtLayer is a layer made by newLayer.
type builtLayer struct{ l v1.Layer }

// lastLayer returns the digest and size of img's last layer and whether
// it came from the layer cache. The layer is read from the image: the
// layer Build added is the one placed on the image below, not the one
// passed (see image.Build).
func lastLayer(img v1.Image) (v1.Hash, int64, bool) {
	ls, err := img.Layers()
	if err != nil || len(ls) == 0 {
		return v1.Hash{}, 0, false
	}
	l := ls[len(ls)-1]
	d, _ := l.Digest()
	size, _ := l.Size()
	c, ok := l.(layer.Cached)
	return d, size, ok && c.CacheHit()
}

type layerRef = *builtLayer

// source turns p into a layer.Source.
func (p part) source(client *http.Client) layer.Source {
	var opts []layer.SourceOption
	if p.own != nil {
		opts = append(opts, layer.WithOwner(p.own.uid, p.own.gid))
	}
	if p.preserveOwner {
		opts = append(opts, layer.WithPreserveOwner())
	}
	if p.chmod != "" && p.kind != partTar && p.kind != partURLTar && p.kind != partDirs {
		opts = append(opts, layer.WithChmod(p.chmod))
	}
	tree := func() []layer.SourceOption {
		o := append(opts, layer.WithRoot(p.dst))
		if p.matchPrefix != "" {
			o = append(o, layer.WithMatchPrefix(p.matchPrefix))
		}
		if len(p.includes) > 0 {
			o = append(o, layer.WithInclude(p.includes...))
		}
		if len(p.excludes) > 0 {
			o = append(o, layer.WithExclude(p.excludes...))
		}
		return o
	}
	switch p.kind {
	case partDir:
		return layer.Dir(p.host, tree()...)
	case partFSDir:
		return layer.FS(p.fsys, tree()...)
	case partFile:
		return layer.HostFile(p.host, p.dst, opts...)
	case partBytes:
		return layer.Files([]layer.File{{Path: p.dst, Data: p.data, Mode: p.mode}}, opts...)
	case partDirs:
		// Made only where missing, as docker's mkdir -p: a directory the
		// image below has keeps its mode and owner.
		return layer.Dirs(p.names, append(opts, layer.WithChmod(fmt.Sprintf("%o", p.mode.Perm())))...)
	case partTar:
		if p.sha256 != "" {
			opts = append(opts, layer.WithSHA256(p.sha256))
		}
		return layer.Tarball(p.host, append(opts, layer.WithRoot(p.dst))...)
	case partURL, partURLTar:
		if p.sha256 != "" {
			opts = append(opts, layer.WithSHA256(p.sha256))
		}
		if client != nil {
			opts = append(opts, layer.WithHTTPClient(client))
		}
		if p.kind == partURL {
			return layer.URLFile(p.url, p.dst, opts...)
		}
		return layer.URL(p.url, append(opts, layer.WithRoot(p.dst))...)
	}
	panic(fmt.Sprintf("dockerfile: unknown part kind %d", p.kind))
}

// newLayer makes one layer of parts (in order: later entries win), kept
// in the layer cache when the build has one. An empty parts makes an
// empty layer, as docker's COPY of an empty directory does.
func (b *platformBuild) newLayer(ctx context.Context, parts []part) (layerRef, error) {
	srcs := make([]layer.Source, 0, len(parts)+1)
	for _, p := range parts {
		srcs = append(srcs, p.source(b.o.httpClient))
	}
	if len(srcs) == 0 {
		srcs = append(srcs, layer.Files(nil))
	}
	var opts []layer.LayerOption
	if b.o.cacheDir != "" {
		opts = append(opts, layer.WithCache(b.o.cacheDir))
	}
	l, err := layer.New(ctx, srcs, opts...)
	if err != nil {
		return nil, err
	}
	return &builtLayer{l: l}, nil
}

// dirsLayer makes the layer of directories dirs (WORKDIR), 0755, owned
// by own (root when nil).
func (b *platformBuild) dirsLayer(ctx context.Context, dirs []string, own *owner) (layerRef, error) {
	if len(dirs) == 0 {
		return b.newLayer(ctx, nil)
	}
	return b.newLayer(ctx, []part{{kind: partDirs, names: dirs, mode: 0o755, own: own}})
}

// anonymous hides a base's Reference method: intermediate images must not
// carry base annotations (the final image gets those of the stage's root
// base, see annotate).
type anonymous struct{ v1.Image }

// commitImage extends base (nil: scratch, for platform) with l (nil:
// none), the config cfg computed by the stage, and its history entries,
// in OCI media types as BuildKit writes them. The base's layers are
// indexed with trees's indexes, which the build's other images share.
func commitImage(ctx context.Context, trees *image.Tree, base v1.Image, platform v1.Platform, l layerRef, cfg v1.ConfigFile, history []v1.History) (v1.Image, error) {
	want := cfg.Config.DeepCopy()
	opts := []image.Option{
		image.WithTrees(trees),
		image.WithOCIMediaTypes(),
		image.WithoutEmptyLayer(), // an intermediate image: see finish
		image.WithConfig(func(cf *v1.ConfigFile) error {
			cf.Config, cf.Author = *want.DeepCopy(), cfg.Author
			return nil
		}),
	}
	if len(history) > 0 {
		opts = append(opts, image.WithHistory(history...))
	}
	if l != nil {
		opts = append(opts, image.WithLayers(l.l))
	}
	if base == nil {
		opts = append(opts, image.WithPlatform(platformString(platform)))
	} else {
		base = anonymous{base}
	}
	return image.Build(ctx, base, opts...)
}

// finish gives the final image what only a final image needs: the base
// image annotations of the stage's root base
// (org.opencontainers.image.base.name and .digest), when it came from a
// Resolver with a reference; the platform of target when one was given
// (see retarget); and the empty layer of an image that would have none
// (the image spec's schema wants a layer; docker build makes such images
// without one).
func finish(ctx context.Context, img v1.Image, base baseInfo, target *v1.Platform) (v1.Image, error) {
	var opts []image.Option
	if ref, err := name.ParseReference(base.ref); base.ref != "" && err == nil {
		opts = append(opts,
			image.WithAnnotation(image.BaseNameAnnotation, ref.Name()),
			image.WithAnnotation(image.BaseDigestAnnotation, base.digest.String()))
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	img, moved, err := retarget(img, target)
	if err != nil {
		return nil, err
	}
	if len(opts) == 0 && len(m.Layers) > 0 && !moved {
		return img, nil
	}
	return image.Build(ctx, anonymous{img}, opts...)
}

// retarget sets the platform of img's config as BuildKit sets that of the
// image it returns (dockerfile2llb.toDispatchState): with a target
// platform, its OS and architecture, and its variant unless the target
// has none and img is of the target's OS and architecture already; then,
// target or not, normalized. moved reports a change.
func retarget(img v1.Image, target *v1.Platform) (v1.Image, bool, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, false, err
	}
	have := v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant, OSVersion: cf.OSVersion}
	p := have
	if target != nil {
		same := target.OS == p.OS && target.Architecture == p.Architecture
		p.OS, p.Architecture = target.OS, target.Architecture
		if target.Variant != "" || !same {
			p.Variant = target.Variant
		}
		if target.OSVersion != "" || !same {
			p.OSVersion = target.OSVersion
		}
	}
	if p = platform.Normalize(p); p.Equals(have) {
		return img, false, nil
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant, cf.OSVersion = p.OS, p.Architecture, p.Variant, p.OSVersion
	img, err = mutate.ConfigFile(img, cf)
	return img, true, err
}

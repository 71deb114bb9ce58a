package layer

import (
	"context"
	"io/fs"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// from builds a one-source layer from options that mix source and layer
// options.
func from(ctx context.Context, mk func(opts ...SourceOption) Source, opts []Option) (v1.Layer, error) {
	var (
		so []SourceOption
		lo []LayerOption
	)
	for _, opt := range opts {
		switch opt := opt.(type) {
		case SourceOption:
			so = append(so, opt)
		case LayerOption:
			lo = append(lo, opt)
		}
	}
	o, err := applyLayerOptions(lo)
	if err != nil {
		return nil, err
	}
	return newLayer(ctx, []Source{mk(so...)}, o)
}

// FromDir is New with the single source Dir(dir); opts may mix source and
// layer options.
func FromDir(dir string, opts ...Option) (v1.Layer, error) {
	return from(context.Background(), func(o ...SourceOption) Source { return Dir(dir, o...) }, opts)
}

// FromTarball is New with the single source Tarball(path); opts may mix
// source and layer options.
func FromTarball(path string, opts ...Option) (v1.Layer, error) {
	return from(context.Background(), func(o ...SourceOption) Source { return Tarball(path, o...) }, opts)
}

// FromURL is New with the single source URL(url); ctx bounds the download,
// which happens on first use of the layer. opts may mix source and layer
// options.
func FromURL(ctx context.Context, url string, opts ...Option) (v1.Layer, error) {
	return from(ctx, func(o ...SourceOption) Source { return URL(url, o...) }, opts)
}

// FromFS is New with the single source FS(fsys); opts may mix source and
// layer options.
func FromFS(fsys fs.FS, opts ...Option) (v1.Layer, error) {
	return from(context.Background(), func(o ...SourceOption) Source { return FS(fsys, o...) }, opts)
}

// FromFiles is New with the single source Files(files); opts may mix
// source and layer options.
func FromFiles(files []File, opts ...Option) (v1.Layer, error) {
	return from(context.Background(), func(o ...SourceOption) Source { return Files(files, o...) }, opts)
}

// Delete returns a layer of OCI whiteouts deleting paths (absolute or
// relative to the image root) from the layers below it.
func Delete(paths ...string) (v1.Layer, error) {
	return New(context.Background(), []Source{Deletions(paths...)})
}

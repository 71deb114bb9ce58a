package attest

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/stevedore-dev/stevedore/image"
)

// Options add to what a build recorded (see [Of]).
type Options struct {
	// Name is Facts.Name: the image's repository, without tag or digest.
	Name string
	// BuilderID is Facts.BuilderID.
	BuilderID string
	// Inputs are inputs the build did not see, such as the git
	// repository and commit a directory was checked out from.
	Inputs []Input
	// Parameters are added to the recorded ones (and replace those of
	// the same name).
	Parameters map[string]string
}

// Of returns the artifacts of a, an image or index that package image
// built (image.Build, BuildIndex or BuildAny, possibly converted with
// image.ToOCI): an SBOM and a provenance statement for each platform
// image, made from what the build recorded ([FromImage]) and o. The
// subjects are a's manifests as they are: push a, or write it to an OCI
// layout or tarball, as it is given here.
func Of(ctx context.Context, a image.Artifact, o Options) ([]v1.Image, error) {
	facts := func(img v1.Image) (Facts, error) {
		f, err := FromImage(ctx, img)
		if err != nil {
			return Facts{}, err
		}
		f.Name, f.BuilderID = o.Name, o.BuilderID
		f.Inputs = append(f.Inputs, o.Inputs...)
		maps.Copy(f.Parameters, o.Parameters)
		return f, nil
	}
	switch a := a.(type) {
	case v1.Image:
		f, err := facts(a)
		if err != nil {
			return nil, err
		}
		return ForImage(a, f)
	case v1.ImageIndex:
		return ForIndex(a, func(d v1.Descriptor) (Facts, error) {
			img, err := a.Image(d.Digest)
			if err != nil {
				return Facts{}, err
			}
			return facts(img)
		})
	}
	return nil, fmt.Errorf("attest: %T is neither an image nor an index", a)
}

// FromImage returns the facts package image recorded building img (see
// image.Recorder): the base and its digest, the created time, every
// input of the added layers with its digest (directories, io/fs trees and
// in-memory files by content digest, tarballs and host files by sha256,
// downloads by URL and the sha256 of what was read), every Go executable
// they hold, and as parameters the platform and the config's entrypoint,
// cmd, user, working directory and the names (not values) of its
// environment variables. Name and BuilderID are left empty.
func FromImage(ctx context.Context, img v1.Image) (Facts, error) {
	r, ok := img.(image.Recorder)
	if !ok {
		return Facts{}, fmt.Errorf("%w: %T was not built by package image: no recorded facts", ErrInvalidFacts, img)
	}
	rf, err := r.Facts(ctx)
	if err != nil {
		return Facts{}, fmt.Errorf("attest: %w", err)
	}
	f := Facts{Created: rf.Created, Parameters: parameters(rf)}
	if rf.Base != nil {
		f.Base = &Base{Ref: rf.Base.Ref, Digest: rf.Base.Digest}
	}
	for _, lf := range rf.Layers {
		for _, in := range lf.Inputs {
			if k, ok := inputKinds[in.Kind]; ok {
				f.Inputs = append(f.Inputs, Input{Kind: k, URI: in.URI, Digest: in.Digest, Destination: in.Destination})
			}
		}
		for _, b := range lf.Binaries {
			f.Binaries = append(f.Binaries, Binary{Path: b.Path, Info: b.Info, Digest: b.Digest})
		}
	}
	return f, nil
}

// inputKinds maps the kinds of layer.Input to those of Input; "mkdir"
// (layer.Dirs) has no content to state.
var inputKinds = map[string]Kind{
	"dir": KindDir, "fs": KindFS, "files": KindFiles, "tarball": KindTarball,
	"url": KindURL, "url file": KindURL, "file": KindFile,
}

// parameters are the build parameters of a recorded build.
func parameters(f image.Facts) map[string]string {
	p := map[string]string{"platform": f.Platform.String()}
	c := f.Config
	list := func(k string, v []string) {
		if len(v) > 0 {
			raw, _ := json.Marshal(v) // strings only: cannot fail
			p[k] = string(raw)
		}
	}
	list("entrypoint", c.Entrypoint)
	list("cmd", c.Cmd)
	if c.User != "" {
		p["user"] = c.User
	}
	if c.WorkingDir != "" {
		p["workingDir"] = c.WorkingDir
	}
	var env []string
	for _, kv := range c.Env {
		k, _, _ := strings.Cut(kv, "=")
		env = append(env, k)
	}
	slices.Sort(env)
	list("envNames", env)
	return p
}

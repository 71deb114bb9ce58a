package attest

import (
	"cmp"
	"fmt"
	"maps"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Facts is what a build of one image used and produced, as recorded by
// the build itself. The layer pipeline records Inputs and Binaries;
// image.Build records Base, Created and the Parameters.
type Facts struct {
	// Name is the image's repository, such as
	// "registry.example.com/team/app" (no tag or digest). It names the
	// documents and the image's package URL. Empty means "image".
	Name string
	// Created is the time the documents state: the image's created time.
	// The zero value means the Unix epoch.
	Created time.Time
	// BuilderID identifies what ran the build (the provenance's
	// runDetails.builder.id), for example the URI of a CI workflow.
	// Empty means [DefaultBuilderID].
	BuilderID string
	// Base is the base image; nil for an image built from scratch.
	Base *Base
	// Inputs are the sources of the added layers, in any order.
	Inputs []Input
	// Binaries are the Go executables found in the added layers.
	Binaries []Binary
	// Parameters are the build parameters that matter, such as the
	// platform, entrypoint or environment set: the provenance's
	// externalParameters. They must hold no secret.
	Parameters map[string]string
}

// DefaultBuilderID is the builder id stated when Facts.BuilderID is empty.
const DefaultBuilderID = "https://github.com/stevedore-dev/stevedore"

// BuildType is the provenance's buildDefinition.buildType.
const BuildType = "https://github.com/stevedore-dev/stevedore/buildtypes/image/v1"

// Base is a base image: the reference it was pulled by and its manifest
// digest.
type Base struct {
	Ref    string
	Digest v1.Hash
}

// Kind is the kind of an [Input].
type Kind string

// The kinds of inputs.
const (
	KindDir     Kind = "dir"     // a local directory; Digest is its content digest
	KindFS      Kind = "fs"      // an io/fs tree; Digest is its content digest
	KindFiles   Kind = "files"   // in-memory files; Digest is their content digest
	KindTarball Kind = "tarball" // a local tarball; Digest is the sha256 of the file
	KindFile    Kind = "file"    // a local file placed as it is; Digest is its sha256
	KindURL     Kind = "url"     // a download; Digest is the sha256 of what was downloaded
	KindGit     Kind = "git"     // a git repository at a commit
)

// Input is one source of an added layer.
type Input struct {
	Kind Kind
	// URI locates the input: the URL of a download or of a git
	// repository, or a name for local content ("./dist", "embed:static"),
	// which the provenance states as the descriptor's name (it is no
	// URI). It must not hold credentials, and for local content it should
	// not hold host-specific paths, which would make the documents differ
	// between machines.
	URI string
	// Digest is the sha256 of the content (see [Kind]); for git, the
	// digest of the tree placed, if known.
	Digest v1.Hash
	// Commit is the git commit (40 or 64 hex digits), for KindGit.
	Commit string
	// Ref is the git reference asked for ("main", "v1.2.0"), for KindGit.
	Ref string
	// Destination is where the input lands in the image, such as "/app".
	Destination string
}

// Binary is a Go executable in an added layer.
type Binary struct {
	// Path is its path in the image, such as "/usr/local/bin/app".
	Path string
	// Info is its build information, as debug/buildinfo reads it.
	Info *debug.BuildInfo
	// Digest is the sha256 of the file, if known.
	Digest v1.Hash
}

var hexCommit = regexp.MustCompile(`^([0-9a-f]{40}|[0-9a-f]{64})$`)

// normalized checks f and returns a copy with sorted lists.
func (f Facts) normalized() (Facts, error) {
	if f.Base != nil {
		if err := checkDigest("base "+f.Base.Ref, f.Base.Digest, true); err != nil {
			return f, err
		}
	}
	f.Inputs = slices.Clone(f.Inputs)
	for _, in := range f.Inputs {
		switch in.Kind {
		case KindDir, KindFS, KindFiles, KindTarball, KindFile:
			if err := checkDigest(string(in.Kind)+" input "+in.URI, in.Digest, true); err != nil {
				return f, err
			}
		case KindURL:
			if in.URI == "" {
				return f, fmt.Errorf("%w: url input without URL", ErrInvalidFacts)
			}
			if err := checkDigest("url input "+in.URI, in.Digest, true); err != nil {
				return f, err
			}
		case KindGit:
			if in.URI == "" || !hexCommit.MatchString(in.Commit) {
				return f, fmt.Errorf("%w: git input %q needs a repository URL and a full hex commit, have %q", ErrInvalidFacts, in.URI, in.Commit)
			}
			if err := checkDigest("git input "+in.URI, in.Digest, false); err != nil {
				return f, err
			}
		default:
			return f, fmt.Errorf("%w: input %q has unknown kind %q", ErrInvalidFacts, in.URI, in.Kind)
		}
	}
	slices.SortFunc(f.Inputs, func(a, b Input) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.URI, b.URI), cmp.Compare(a.Destination, b.Destination),
			cmp.Compare(a.Digest.String(), b.Digest.String()), cmp.Compare(a.Commit, b.Commit))
	})
	f.Binaries = slices.Clone(f.Binaries)
	for _, b := range f.Binaries {
		if b.Path == "" || b.Info == nil {
			return f, fmt.Errorf("%w: Go executable %q without path or build information", ErrInvalidFacts, b.Path)
		}
		if err := checkDigest("Go executable "+b.Path, b.Digest, false); err != nil {
			return f, err
		}
	}
	slices.SortFunc(f.Binaries, func(a, b Binary) int { return cmp.Compare(a.Path, b.Path) })
	f.Parameters = maps.Clone(f.Parameters)
	if f.BuilderID == "" {
		f.BuilderID = DefaultBuilderID
	}
	if f.Created.IsZero() {
		f.Created = time.Unix(0, 0)
	}
	f.Created = f.Created.UTC().Truncate(time.Second)
	return f, nil
}

// checkDigest requires a sha256 digest (or, when optional, none).
func checkDigest(what string, h v1.Hash, required bool) error {
	if h == (v1.Hash{}) && !required {
		return nil
	}
	if h.Algorithm != "sha256" || len(h.Hex) != 64 || strings.Trim(h.Hex, "0123456789abcdef") != "" {
		return fmt.Errorf("%w: %s: digest %q is not sha256", ErrInvalidFacts, what, h.String())
	}
	return nil
}

// checkSubject requires a manifest descriptor with a sha256 digest.
func checkSubject(s v1.Descriptor) (v1.Descriptor, error) {
	if err := checkDigest("subject", s.Digest, true); err != nil {
		return s, err
	}
	if !s.MediaType.IsImage() && !s.MediaType.IsIndex() || s.Size <= 0 {
		return s, fmt.Errorf("%w: subject %s is a %q of %d bytes, not an image or index manifest", ErrInvalidFacts, s.Digest, s.MediaType, s.Size)
	}
	return v1.Descriptor{MediaType: s.MediaType, Digest: s.Digest, Size: s.Size}, nil
}

func (f Facts) name() string {
	if f.Name == "" {
		return "image"
	}
	return f.Name
}

// prepare checks the subject and the facts of a document.
func prepare(subject v1.Descriptor, facts Facts) (v1.Descriptor, Facts, error) {
	subject, err := checkSubject(subject)
	if err != nil {
		return subject, facts, err
	}
	f, err := facts.normalized()
	return subject, f, err
}

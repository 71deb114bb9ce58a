package attest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	slsa "github.com/in-toto/attestation/go/predicates/provenance/v1"
	intoto "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// Media and predicate types of the provenance artifact.
const (
	// MediaTypeInToto is the media type of an in-toto statement, and the
	// artifactType of the provenance artifact.
	MediaTypeInToto = "application/vnd.in-toto+json"
	// PredicateSLSAProvenance is the predicate type of SLSA v1 provenance.
	PredicateSLSAProvenance = "https://slsa.dev/provenance/v1"
)

// Provenance returns an in-toto statement (v1) whose subject is the image
// subject names, with a SLSA v1 provenance predicate: the build type
// ([BuildType]), the base image's reference ("scratch" without one) and
// Facts.Parameters as external parameters, the resolved dependencies (the base image by digest, each
// download and local input by sha256, local inputs by name rather than
// uri, a git repository by gitCommit, SHA-1 or SHA-256), and the builder
// id. It is compact JSON with sorted keys: the same facts give the
// same bytes.
func Provenance(subject v1.Descriptor, facts Facts) ([]byte, error) {
	subject, f, err := prepare(subject, facts)
	if err != nil {
		return nil, err
	}
	// The base is a parameter that always matters (and SLSA wants at
	// least one).
	params := map[string]any{"base": "scratch"}
	if f.Base != nil {
		params["base"] = f.Base.Ref
	}
	for _, k := range slices.Sorted(maps.Keys(f.Parameters)) {
		params[k] = f.Parameters[k]
	}
	ext, err := structpb.NewStruct(params)
	if err != nil {
		return nil, fmt.Errorf("attest: provenance parameters: %w", err)
	}
	pred := &slsa.Provenance{
		BuildDefinition: &slsa.BuildDefinition{
			BuildType:            BuildType,
			ExternalParameters:   ext,
			ResolvedDependencies: dependencies(f),
		},
		RunDetails: &slsa.RunDetails{Builder: &slsa.Builder{Id: f.BuilderID}},
	}
	if err := validate(pred); err != nil {
		return nil, fmt.Errorf("%w: provenance: %w", ErrInvalidFacts, err)
	}
	predStruct, err := toStruct(pred)
	if err != nil {
		return nil, err
	}
	st := &intoto.Statement{
		Type: intoto.StatementTypeUri,
		Subject: []*intoto.ResourceDescriptor{{
			Name:   f.name(),
			Digest: map[string]string{subject.Digest.Algorithm: subject.Digest.Hex},
		}},
		PredicateType: PredicateSLSAProvenance,
		Predicate:     predStruct,
	}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("%w: in-toto statement: %w", ErrInvalidFacts, err)
	}
	return canonicalJSON(st)
}

// dependencies lists what the build resolved: base, then inputs.
func dependencies(f Facts) []*intoto.ResourceDescriptor {
	var deps []*intoto.ResourceDescriptor
	if f.Base != nil {
		base := &intoto.ResourceDescriptor{Name: "base", Digest: map[string]string{"sha256": f.Base.Digest.Hex}}
		if f.Base.Ref != "" {
			// A reference ("cgr.dev/chainguard/static:latest") is no URI;
			// its package URL, as the SBOM gives it, is.
			base.Uri = ociPURL(repository(f.Base.Ref), f.Base.Digest)
		}
		deps = append(deps, base)
	}
	for _, in := range f.Inputs {
		rd := &intoto.ResourceDescriptor{Name: string(in.Kind), Uri: in.URI, Digest: map[string]string{}}
		if in.Kind != KindURL && in.Kind != KindGit {
			// A name for local content ("./dist") is no URI, which uri
			// must be (in-toto's ResourceURI, RFC 3986): it names the
			// descriptor, its digest identifies the content.
			rd.Uri = ""
			if in.URI != "" {
				rd.Name = in.URI
			}
		}
		if in.Digest != (v1.Hash{}) {
			rd.Digest["sha256"] = in.Digest.Hex
		}
		ann := map[string]any{"kind": string(in.Kind)}
		if in.Destination != "" {
			ann["destination"] = in.Destination
		}
		switch in.Kind {
		case KindURL:
			rd.DownloadLocation = in.URI
		case KindGit:
			rd.Uri = "git+" + in.URI + "@" + in.Commit
			// SHA-1 and SHA-256 commits alike (in-toto's digest_set.md).
			rd.Digest["gitCommit"] = in.Commit
			if in.Ref != "" {
				ann["ref"] = in.Ref
			}
		}
		rd.Annotations, _ = structpb.NewStruct(ann) // strings only: cannot fail
		deps = append(deps, rd)
	}
	return deps
}

// validate checks pred with the in-toto bindings. They (v1.2.0) take a
// gitCommit for a SHA-1 only, where in-toto's digest-set specification
// takes SHA-256 commits (64 hex digits) too: those, checked by
// Facts.normalized, are left out of the bindings' check
// (in-toto/attestation#184).
func validate(pred *slsa.Provenance) error {
	c := proto.CloneOf(pred)
	for _, rd := range c.GetBuildDefinition().GetResolvedDependencies() {
		if len(rd.Digest["gitCommit"]) == 64 {
			delete(rd.Digest, "gitCommit")
		}
	}
	return c.Validate()
}

// toStruct converts a message to a google.protobuf.Struct through JSON.
func toStruct(m proto.Message) (*structpb.Struct, error) {
	b, err := protojson.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("attest: encoding provenance: %w", err)
	}
	s := &structpb.Struct{}
	if err := protojson.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("attest: encoding provenance: %w", err)
	}
	return s, nil
}

// canonicalJSON encodes m as compact JSON with sorted keys. protojson's
// own output varies its whitespace on purpose, from build to build, so it
// is decoded and encoded again with encoding/json, whose output is stable.
func canonicalJSON(m proto.Message) ([]byte, error) {
	b, err := protojson.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("attest: encoding statement: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("attest: encoding statement: %w", err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("attest: encoding statement: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

package attest

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	slsa "github.com/in-toto/attestation/go/predicates/provenance/v1"
	intoto "github.com/in-toto/attestation/go/v1"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/stevedore-dev/stevedore/internal/gobin"
	"github.com/stevedore-dev/stevedore/internal/gobin/gobintest"
)

func hash(s string) v1.Hash {
	h, _, err := v1.SHA256(strings.NewReader(s))
	if err != nil {
		panic(err)
	}
	return h
}

// testFacts are the facts of a build with every kind of input.
func testFacts() Facts {
	return Facts{
		Name:    "registry.example.com/team/app",
		Created: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC),
		Base:    &Base{Ref: "cgr.dev/chainguard/static:latest", Digest: hash("base")},
		Inputs: []Input{
			{Kind: KindURL, URI: "https://go.dev/dl/go1.25.0.linux-amd64.tar.gz", Digest: hash("go tarball"), Destination: "/usr/local/go"},
			{Kind: KindDir, URI: "./dist", Digest: hash("dist"), Destination: "/app"},
			{Kind: KindFS, URI: "embed:static", Digest: hash("static"), Destination: "/srv"},
			{Kind: KindGit, URI: "https://github.com/example/repo", Commit: strings.Repeat("ab", 20), Ref: "main", Destination: "/src"},
		},
		Parameters: map[string]string{"platform": "linux/amd64", "entrypoint": "/app/server"},
	}
}

func testImage(t testing.TB) (v1.Image, v1.Descriptor) {
	t.Helper()
	img, err := random.Image(256, 1)
	require.NoError(t, err)
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	d, err := partial.Descriptor(img)
	require.NoError(t, err)
	return img, *d
}

// TestSBOMListsModulesOfBuiltProgram builds a Go program, reads its build
// information from a single pass over its bytes, and checks that the SBOM
// parses with the SPDX library and lists the program, its Go version and
// its dependency with the go.sum hash as SHA256.
func TestSBOMListsModulesOfBuiltProgram(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go program")
	}
	exe, err := os.ReadFile(gobintest.Build(t, nil, "-trimpath"))
	require.NoError(t, err)
	var d gobin.Detector
	_, _ = d.Write(exe)
	info, ok := d.Result()
	require.True(t, ok, "the built program is a Go executable")

	_, subject := testImage(t)
	facts := testFacts()
	facts.Binaries = []Binary{{Path: "/app/hello", Info: info, Digest: hash(string(exe))}}
	b, err := SBOM(subject, facts)
	require.NoError(t, err)
	doc, err := spdxjson.Read(bytes.NewReader(b))
	require.NoError(t, err, "SBOM parses with spdx/tools-golang")
	assert.Equal(t, "SPDX-2.3", doc.SPDXVersion)

	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(gobintest.DepSum, "h1:"))
	require.NoError(t, err)
	want := map[string]string{ // name -> version
		gobintest.MainPath:                              "(devel)",
		gobintest.DepPath:                               gobintest.DepVers,
		"stdlib":                                        info.GoVersion,
		"registry.example.com/team/app":                 subject.Digest.String(),
		"cgr.dev/chainguard/static:latest":              hash("base").String(),
		"https://go.dev/dl/go1.25.0.linux-amd64.tar.gz": "",
	}
	got := map[string]string{}
	for _, p := range doc.Packages {
		got[p.PackageName] = p.PackageVersion
		switch p.PackageName {
		case gobintest.DepPath:
			require.Len(t, p.PackageChecksums, 1)
			assert.Equal(t, hex.EncodeToString(raw), p.PackageChecksums[0].Value, "checksum of %s is its go.sum hash", p.PackageName)
			require.Len(t, p.PackageExternalReferences, 1)
			assert.Equal(t, "pkg:golang/github.com/google/go-cmp@v0.7.0", p.PackageExternalReferences[0].Locator)
		case gobintest.MainPath:
			assert.Equal(t, "/app/hello", p.PackageFileName)
			assert.Contains(t, p.PackageComment, info.GoVersion)
		case "https://go.dev/dl/go1.25.0.linux-amd64.tar.gz":
			assert.Equal(t, p.PackageName, p.PackageDownloadLocation)
			assert.Equal(t, hash("go tarball").Hex, p.PackageChecksums[0].Value)
		}
	}
	for name, version := range want {
		v, ok := got[name]
		if assert.True(t, ok, "SBOM lists package %s", name) {
			assert.Equal(t, version, v, "version of %s", name)
		}
	}
}

// TestProvenance checks the statement's subject and dependencies against
// the image and the facts.
func TestProvenance(t *testing.T) {
	_, subject := testImage(t)
	b, err := Provenance(subject, testFacts())
	require.NoError(t, err)
	var st intoto.Statement
	require.NoError(t, protojson.Unmarshal(b, &st))
	require.NoError(t, st.Validate())
	require.Len(t, st.Subject, 1)
	assert.Equal(t, map[string]string{"sha256": subject.Digest.Hex}, st.Subject[0].Digest, "subject digest is the image's")
	assert.Equal(t, PredicateSLSAProvenance, st.PredicateType)

	pb, err := protojson.Marshal(st.Predicate)
	require.NoError(t, err)
	var p slsa.Provenance
	require.NoError(t, protojson.Unmarshal(pb, &p))
	require.NoError(t, p.Validate())
	assert.Equal(t, DefaultBuilderID, p.RunDetails.Builder.Id)
	assert.Equal(t, "linux/amd64", p.BuildDefinition.ExternalParameters.AsMap()["platform"])
	got := map[string]map[string]string{}
	for _, d := range p.BuildDefinition.ResolvedDependencies {
		got[d.Name+" "+d.Uri] = d.Digest
	}
	// Local content is named, not located: "./dist" is no URI (RFC 3986),
	// which the descriptor's uri must be (in-toto ResourceURI).
	want := map[string]map[string]string{
		"base pkg:oci/static@sha256%3A" + hash("base").Hex + "?repository_url=cgr.dev/chainguard/static": {"sha256": hash("base").Hex},
		"url https://go.dev/dl/go1.25.0.linux-amd64.tar.gz":                                              {"sha256": hash("go tarball").Hex},
		"./dist ":       {"sha256": hash("dist").Hex},
		"embed:static ": {"sha256": hash("static").Hex},
		"git git+https://github.com/example/repo@" + strings.Repeat("ab", 20): {"gitCommit": strings.Repeat("ab", 20)},
	}
	assert.Equal(t, want, got, "resolvedDependencies")
}

// TestProvenanceGitSHA256: the commit of a SHA-256 repository is a
// gitCommit too (in-toto's digest_set.md: "The lowercase hex SHA-1 (40
// character) or SHA-256 (64 character) of a git commit"), beside the
// sha256 of the tree placed, which it must not replace.
func TestProvenanceGitSHA256(t *testing.T) {
	_, subject := testImage(t)
	commit := strings.Repeat("cd", 32)
	f := Facts{Inputs: []Input{{Kind: KindGit, URI: "https://git.example.com/repo", Commit: commit, Digest: hash("tree"), Destination: "/src"}}}
	b, err := Provenance(subject, f)
	require.NoError(t, err, "Provenance of a SHA-256 commit")
	var st intoto.Statement
	require.NoError(t, protojson.Unmarshal(b, &st))
	pb, err := protojson.Marshal(st.Predicate)
	require.NoError(t, err)
	var p slsa.Provenance
	require.NoError(t, protojson.Unmarshal(pb, &p))
	deps := p.BuildDefinition.ResolvedDependencies
	require.Len(t, deps, 1)
	assert.Equal(t, "git+https://git.example.com/repo@"+commit, deps[0].Uri, "uri")
	assert.Equal(t, map[string]string{"gitCommit": commit, "sha256": hash("tree").Hex}, deps[0].Digest, "digest")
}

// TestDeterministic checks that the same facts give the same artifacts,
// whatever the order of the inputs, and that the documents change with
// what they state.
func TestDeterministic(t *testing.T) {
	img, _ := testImage(t)
	digests := func(f Facts) []string {
		arts, err := ForImage(img, f)
		require.NoError(t, err)
		return ArtifactDigests(t, arts)
	}
	first := digests(testFacts())
	assert.Equal(t, first, digests(testFacts()), "ForImage(same facts)")
	shuffled := testFacts()
	shuffled.Inputs[0], shuffled.Inputs[3] = shuffled.Inputs[3], shuffled.Inputs[0]
	assert.Equal(t, first, digests(shuffled), "ForImage(inputs in another order)")
	later := testFacts()
	later.Created = later.Created.Add(time.Second)
	assert.NotEqual(t, first, digests(later), "ForImage(another created time)")
	other := testFacts()
	other.Inputs[1].Digest = hash("other dist")
	changed := digests(other)
	assert.NotEqual(t, first[0], changed[0], "SBOM digest follows the inputs")
	assert.NotEqual(t, first[1], changed[1], "provenance digest follows the inputs")
}

// TestGolden pins the bytes: a change of them is a change of every
// image's attestations, to be made on purpose.
func TestGolden(t *testing.T) {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	arts, err := ForImage(img, testFacts())
	require.NoError(t, err)
	got := ArtifactDigests(t, arts)
	want := []string{"sha256:e496e544b70bea381f7f13f9a462c25fbcffd95bebde213865861d988fded375", "sha256:4d71f30317128ac4f5906201ad8a1a1af35f5b350330b812d2cb4106fc65f32f"}
	assert.Equal(t, want, got, "ForImage(empty image, testFacts()) digests")
}

// TestArtifactManifest checks the artifact manifests against the image
// specification's guidance: artifactType, the empty config, the subject.
func TestArtifactManifest(t *testing.T) {
	_, subject := testImage(t)
	subject.Platform = &v1.Platform{OS: "linux", Architecture: "amd64"}
	art, err := NewArtifact(subject, MediaTypeSPDX, []byte(`{"spdxVersion":"SPDX-2.3"}`), time.Unix(10, 0), map[string]string{AnnotationTitle: "sbom.spdx.json"})
	require.NoError(t, err)
	m, err := art.Manifest()
	require.NoError(t, err)
	assert.Equal(t, MediaTypeSPDX, m.ArtifactType)
	assert.Equal(t, types.OCIManifestSchema1, m.MediaType)
	assert.Equal(t, MediaTypeEmpty, m.Config.MediaType)
	assert.Equal(t, "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", m.Config.Digest.String(), "digest of {}")
	assert.Equal(t, int64(2), m.Config.Size)
	require.NotNil(t, m.Subject)
	assert.Equal(t, v1.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}, *m.Subject)
	assert.Equal(t, "1970-01-01T00:00:10Z", m.Annotations[AnnotationCreated])
	layers, err := art.Layers()
	require.NoError(t, err)
	require.Len(t, layers, 1)
	rc, err := layers[0].Compressed()
	require.NoError(t, err)
	payload, err := io.ReadAll(rc)
	require.NoError(t, err)
	assert.Equal(t, `{"spdxVersion":"SPDX-2.3"}`, string(payload))
	cfg, err := art.RawConfigFile()
	require.NoError(t, err)
	assert.Equal(t, "{}", string(cfg))
}

// TestForIndex checks one SBOM and one provenance per platform image.
func TestForIndex(t *testing.T) {
	idx, err := random.Index(128, 1, 3)
	require.NoError(t, err)
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	asked := map[v1.Hash]bool{}
	arts, err := ForIndex(idx, func(d v1.Descriptor) (Facts, error) {
		asked[d.Digest] = true
		return testFacts(), nil
	})
	require.NoError(t, err)
	require.Len(t, arts, 2*len(im.Manifests))
	subjects := SubjectCounts(t, arts)
	for _, d := range im.Manifests {
		assert.True(t, asked[d.Digest], "facts asked for %s", d.Digest)
		assert.Equal(t, 2, subjects[d.Digest], "artifacts of %s", d.Digest)
	}
}

// TestInvalidFacts checks that facts that cannot be stated are refused.
func TestInvalidFacts(t *testing.T) {
	_, subject := testImage(t)
	tests := []struct {
		name string
		edit func(*Facts)
	}{
		{"base without digest", func(f *Facts) { f.Base.Digest = v1.Hash{} }},
		{"url without digest", func(f *Facts) { f.Inputs[0].Digest = v1.Hash{} }},
		{"unknown kind", func(f *Facts) { f.Inputs[1].Kind = "ftp" }},
		{"short commit", func(f *Facts) { f.Inputs[3].Commit = "abc" }},
		{"binary without info", func(f *Facts) { f.Binaries = []Binary{{Path: "/x"}} }},
	}
	for _, tt := range tests {
		f := testFacts()
		tt.edit(&f)
		_, err := SBOM(subject, f)
		assert.ErrorIs(t, err, ErrInvalidFacts, "SBOM(%s)", tt.name)
		_, err = Provenance(subject, f)
		assert.ErrorIs(t, err, ErrInvalidFacts, "Provenance(%s)", tt.name)
	}
	_, err := SBOM(v1.Descriptor{}, testFacts())
	assert.ErrorIs(t, err, ErrInvalidFacts, "SBOM(no subject)")
}

// TestPayload: Payload gives back what NewArtifact was given, takes the
// config's media type as the artifactType of an artifact that names none
// (as older tools write them), and refuses an image of other than one
// layer.
func TestPayload(t *testing.T) {
	_, subject := testImage(t)
	doc := []byte(`{"spdxVersion":"SPDX-2.3"}`)
	art, err := NewArtifact(subject, MediaTypeSPDX, doc, time.Unix(10, 0), nil)
	require.NoError(t, err)
	typ, got, err := Payload(art)
	require.NoError(t, err)
	assert.Equal(t, MediaTypeSPDX, typ, "Payload(NewArtifact(SPDX)) artifactType")
	assert.Equal(t, doc, got, "Payload(NewArtifact(SPDX)) payload")

	old, err := mutate.AppendLayers(mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), "application/vnd.example.sig.v1+json"),
		static.NewLayer([]byte("sig"), "application/octet-stream"))
	require.NoError(t, err)
	typ, got, err = Payload(old)
	require.NoError(t, err)
	assert.Equal(t, "application/vnd.example.sig.v1+json", typ, "Payload(artifact without artifactType) artifactType")
	assert.Equal(t, "sig", string(got))

	two, err := random.Image(16, 2)
	require.NoError(t, err)
	_, _, err = Payload(two)
	assert.ErrorIs(t, err, ErrNotArtifact, "Payload(two-layer image)")
}

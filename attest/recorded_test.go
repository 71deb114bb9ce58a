package attest_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	slsa "github.com/in-toto/attestation/go/predicates/provenance/v1"
	intoto "github.com/in-toto/attestation/go/v1"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/stevedore-dev/stevedore/attest"
	"github.com/stevedore-dev/stevedore/image"
	"github.com/stevedore-dev/stevedore/internal/gobin/gobintest"
	"github.com/stevedore-dev/stevedore/internal/itest"
	"github.com/stevedore-dev/stevedore/layer"
	"github.com/stevedore-dev/stevedore/registry"
	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

// fixture is what a build in these tests is made of: a base, a directory
// holding a Go program the test builds, and a download.
type fixture struct {
	base    v1.Image
	dir     string
	exe     []byte
	url     string
	archive []byte // the download's bytes
}

func sum(b []byte) v1.Hash {
	s := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(s[:])}
}

// newFixture builds the fixture's Go program: it skips the test in
// -short mode.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a Go program")
	}
	base, err := random.Image(512, 1)
	require.NoError(t, err)
	f := &fixture{base: base, dir: t.TempDir()}
	f.exe, err = os.ReadFile(gobintest.Build(t, nil, "-trimpath"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(f.dir, "hello"), f.exe, 0o755))

	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "etc/motd", Mode: 0o644, Size: 3, Typeflag: tar.TypeReg}))
	_, err = tw.Write([]byte("hi\n"))
	require.NoError(t, err)
	require.NoError(t, tw.Close())
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, err = zw.Write(tb.Bytes())
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	f.archive = gz.Bytes()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(f.archive) }))
	t.Cleanup(srv.Close)
	f.url = srv.URL + "/motd.tar.gz"
	return f
}

var created = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)

// build builds the fixture's image, with fresh layers each time.
func (f *fixture) build(t *testing.T, opts ...image.Option) v1.Image {
	t.Helper()
	ctx := context.Background()
	app, err := layer.FromDir(f.dir, layer.WithRoot("/app"))
	require.NoError(t, err)
	motd, err := layer.FromURL(ctx, f.url)
	require.NoError(t, err)
	img, err := image.Build(ctx, f.base, append([]image.Option{
		image.WithLayers(app, motd), image.WithCreated(created),
		image.WithEntrypoint("/app/hello"), image.WithEnv("TOKEN", "s3cret"),
	}, opts...)...)
	require.NoError(t, err)
	return img
}

func artifacts(t *testing.T, a image.Artifact) []v1.Image {
	t.Helper()
	arts, err := attest.Of(context.Background(), a, attest.Options{Name: "registry.example.com/team/app"})
	require.NoError(t, err)
	return arts
}

// payload returns the artifactType and payload of an artifact.
func payload(t *testing.T, art v1.Image) (string, []byte) {
	t.Helper()
	typ, b, err := attest.Payload(art)
	require.NoError(t, err)
	return typ, b
}

// TestOfBuiltImage: the SBOM of a built image lists the modules of the Go
// program it holds, the base and the download; the provenance's subject
// is the image and its dependencies are the inputs, with digests computed
// here.
func TestOfBuiltImage(t *testing.T) {
	f := newFixture(t)
	img := f.build(t)
	arts := artifacts(t, img)
	require.Len(t, arts, 2, "an SBOM and a provenance")
	imgDigest, err := img.Digest()
	require.NoError(t, err)
	baseDigest, err := f.base.Digest()
	require.NoError(t, err)
	for _, a := range arts {
		m, err := a.Manifest()
		require.NoError(t, err)
		require.NotNil(t, m.Subject)
		assert.Equal(t, imgDigest, m.Subject.Digest, "subject of %s", m.ArtifactType)
	}

	typ, sbom := payload(t, arts[0])
	require.Equal(t, attest.MediaTypeSPDX, typ)
	doc, err := spdxjson.Read(bytes.NewReader(sbom))
	require.NoError(t, err, "the SBOM parses with spdx/tools-golang")
	pkgs := map[string]string{}
	checksums := map[string]string{}
	for _, p := range doc.Packages {
		pkgs[p.PackageName] = p.PackageVersion
		if len(p.PackageChecksums) > 0 {
			checksums[p.PackageName] = p.PackageChecksums[0].Value
		}
	}
	assert.Equal(t, "(devel)", pkgs[gobintest.MainPath], "the program's main module")
	assert.Equal(t, gobintest.DepVers, pkgs[gobintest.DepPath], "the program's dependency")
	assert.Contains(t, pkgs, "stdlib")
	assert.Equal(t, f.url, findURL(pkgs, f.url), "the download is a package")
	assert.Equal(t, sum(f.archive).Hex, checksums[f.url], "the download's sha256")
	assert.Contains(t, string(sbom), baseDigest.Hex, "the base's digest")
	assert.NotContains(t, string(sbom), "s3cret", "no environment values")

	typ, prov := payload(t, arts[1])
	require.Equal(t, attest.MediaTypeInToto, typ)
	var st intoto.Statement
	require.NoError(t, protojson.Unmarshal(prov, &st))
	require.Len(t, st.Subject, 1)
	assert.Equal(t, imgDigest.Hex, st.Subject[0].Digest["sha256"], "provenance subject")
	raw, err := protojson.Marshal(st.Predicate)
	require.NoError(t, err)
	var pred slsa.Provenance
	require.NoError(t, protojson.Unmarshal(raw, &pred))
	deps := map[string]string{}
	for _, d := range pred.BuildDefinition.ResolvedDependencies {
		deps[d.Name+" "+d.Uri] = d.Digest["sha256"]
	}
	dirFacts, err := layerFacts(t, img, 0)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		"base ":        baseDigest.Hex,
		"dir ":         dirFacts.Inputs[0].Digest.Hex,
		"url " + f.url: sum(f.archive).Hex,
	}, deps, "resolved dependencies")
	params := pred.BuildDefinition.ExternalParameters.AsMap()
	assert.Equal(t, `["/app/hello"]`, params["entrypoint"])
	assert.Contains(t, params["envNames"], "TOKEN")
	assert.NotContains(t, string(prov), "s3cret", "no environment values")
}

func findURL(pkgs map[string]string, url string) string {
	if _, ok := pkgs[url]; ok {
		return url
	}
	return ""
}

// layerFacts returns the facts of the i-th added layer of img.
func layerFacts(t *testing.T, img v1.Image, i int) (layer.Facts, error) {
	t.Helper()
	f, err := img.(image.Recorder).Facts(context.Background())
	if err != nil {
		return layer.Facts{}, err
	}
	require.Greater(t, len(f.Layers), i)
	return f.Layers[i], nil
}

// TestOfDeterministic: the same inputs give the same artifacts; a changed
// input changes them.
func TestOfDeterministic(t *testing.T) {
	f := newFixture(t)
	digests := func(img v1.Image) []string { return attest.ArtifactDigests(t, artifacts(t, img)) }
	first := digests(f.build(t))
	assert.Equal(t, first, digests(f.build(t)), "artifacts of a second build")
	require.NoError(t, os.WriteFile(filepath.Join(f.dir, "VERSION"), []byte("2\n"), 0o644))
	assert.NotEqual(t, first, digests(f.build(t)), "artifacts after an input changed")
}

// TestOfIndex: one SBOM and one provenance per platform image.
func TestOfIndex(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	app, err := layer.FromDir(f.dir, layer.WithRoot("/app"))
	require.NoError(t, err)
	idx, err := image.BuildIndex(ctx, nil, image.WithPlatforms("linux/amd64", "linux/arm64"), image.WithLayers(app))
	require.NoError(t, err)
	arts := artifacts(t, idx)
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	require.Len(t, im.Manifests, 2)
	require.Len(t, arts, 4)
	subjects := attest.SubjectCounts(t, arts)
	for _, d := range im.Manifests {
		assert.Equal(t, 2, subjects[d.Digest], "artifacts of %s", d.Platform)
	}
}

// TestReferrersOnRegistries pushes an image and its artifacts, and finds
// them with go-containerregistry's remote.Referrers: on registrytest
// through the referrers API, on Docker Distribution 2.8 (in CI) through
// the fallback tag.
func TestReferrersOnRegistries(t *testing.T) {
	f := newFixture(t)
	img := f.build(t)
	arts := artifacts(t, img)

	t.Run("registrytest", func(t *testing.T) {
		s := registrytest.New(t)
		checkReferrers(t, s.Ref("team/app"), img, arts, false)
	})
	t.Run("distribution", func(t *testing.T) {
		itest.Require(t, "docker-registry")
		const user, pass = "attest", "attest-secret-pw"
		d := itest.StartDistribution(t, user, pass, nil, nil)
		checkReferrers(t, d.Ref("team/app"), img, arts, true, registry.WithBasicAuth(user, pass))
	})
}

// checkReferrers pushes img and arts to repo and finds them; fallback
// says the registry has no referrers API, so that they must be listed
// under the fallback tag.
func checkReferrers(t *testing.T, repo string, img v1.Image, arts []v1.Image, fallback bool, opts ...registry.Option) {
	t.Helper()
	ctx := context.Background()
	ref, err := registry.Push(ctx, repo+":v1", img, opts...)
	require.NoError(t, err)
	_, err = registry.PushReferrers(ctx, repo, arts, opts...)
	require.NoError(t, err)

	var ropts []remote.Option
	if len(opts) > 0 { // the Distribution: basic auth
		ropts = append(ropts, remote.WithAuth(&authn.Basic{Username: "attest", Password: "attest-secret-pw"}))
	}
	d, err := name.NewDigest(ref.String(), name.Insecure)
	require.NoError(t, err)
	idx, err := remote.Referrers(d, ropts...)
	require.NoError(t, err)
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	var types []string
	for _, m := range im.Manifests {
		types = append(types, m.ArtifactType)
	}
	assert.ElementsMatch(t, []string{attest.MediaTypeSPDX, attest.MediaTypeInToto}, types, "referrers of %s", d)
	got, err := registry.Referrers(ctx, d.String(), attest.MediaTypeSPDX, opts...)
	require.NoError(t, err)
	assert.Len(t, got, 1, "registry.Referrers filtered by artifactType")
	tags, err := remote.List(d.Context(), ropts...)
	require.NoError(t, err)
	assert.Equal(t, fallback, slices.Contains(tags, attest.FallbackTag(v1.Hash{Algorithm: "sha256", Hex: d.DigestStr()[len("sha256:"):]})), "fallback tag in %v", tags)
}

// TestOCITarballCarriesReferrers writes an image (of the Docker family:
// converted with image.ToOCI first, so that the subject is the manifest
// the tarball holds) with its artifacts into an OCI tarball, and reads
// them back as a layout.
func TestOCITarballCarriesReferrers(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	built := f.build(t)
	oci, err := image.ToOCI(built)
	require.NoError(t, err)
	arts := artifacts(t, oci)
	opts, err := attest.OCIEntries(arts...)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "app.tar")
	require.NoError(t, image.WriteOCITarball(ctx, path, oci, append(opts, image.WithRefName("app"))...))

	dir := untar(t, path)
	lp, err := layout.FromPath(dir)
	require.NoError(t, err)
	top, err := lp.ImageIndex()
	require.NoError(t, err)
	im, err := top.IndexManifest()
	require.NoError(t, err)
	want, err := oci.Digest()
	require.NoError(t, err)
	byName := map[string]v1.Descriptor{}
	for _, d := range im.Manifests {
		byName[d.Annotations[image.RefNameAnnotation]] = d
	}
	require.Len(t, byName, 2, "index.json: the image and its referrers")
	assert.Equal(t, want, byName["app"].Digest)
	refs, err := top.ImageIndex(byName[attest.FallbackTag(want)].Digest)
	require.NoError(t, err)
	rim, err := refs.IndexManifest()
	require.NoError(t, err)
	require.Len(t, rim.Manifests, 2)
	for _, d := range rim.Manifests {
		art, err := refs.Image(d.Digest)
		require.NoError(t, err)
		m, err := art.Manifest()
		require.NoError(t, err)
		assert.Equal(t, want, m.Subject.Digest, "subject of %s", d.ArtifactType)
	}
}

func untar(t *testing.T, path string) string {
	t.Helper()
	dir := t.TempDir()
	fh, err := os.Open(path)
	require.NoError(t, err)
	defer fh.Close()
	tr := tar.NewReader(fh)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return dir
		}
		require.NoError(t, err)
		p := filepath.Join(dir, h.Name)
		if h.Typeflag == tar.TypeDir {
			require.NoError(t, os.MkdirAll(p, 0o755))
			continue
		}
		b, err := io.ReadAll(tr)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(p, b, 0o644))
	}
}

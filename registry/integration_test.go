package registry

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/internal/itest"
	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

// counting counts requests by method and path kind.
type counting struct {
	inner http.RoundTripper
	mu    sync.Mutex
	n     map[string]int
}

func (c *counting) RoundTrip(r *http.Request) (*http.Response, error) {
	kind := "other"
	switch {
	case strings.Contains(r.URL.Path, "/blobs/uploads"):
		kind = "upload"
	case strings.Contains(r.URL.Path, "/blobs/"):
		kind = "blob"
	case strings.Contains(r.URL.Path, "/manifests/"):
		kind = "manifest"
	}
	c.mu.Lock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[r.Method+" "+kind]++
	c.mu.Unlock()
	return c.inner.RoundTrip(r)
}

func (c *counting) reset() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n
	c.n = nil
	return n
}

// TestDistributionIntegration pushes to and pulls from Docker
// Distribution 2.8 (Debian's docker-registry) with htpasswd auth, and has
// skopeo read what was pushed.
func TestDistributionIntegration(t *testing.T) {
	skopeo := itest.Require(t, "skopeo")[0]
	const user, pass = "itest", "itest-Pa55"
	d := itest.StartDistribution(t, user, pass, nil, nil)
	ctx := ctxT(t)
	tr := &counting{inner: http.DefaultTransport.(*http.Transport).Clone()}
	auth := WithBasicAuth(user, pass)
	opts := []Option{auth, WithTransport(tr)}

	// Wrong password: the actionable error, from a real registry.
	_, err := Push(ctx, d.Ref("app:v1"), randomImage(t, 1, 100), WithBasicAuth(user, "wrong-Pa55"))
	if assert.ErrorIs(t, err, ErrUnauthorized, "Push with a wrong password") {
		assert.Contains(t, err.Error(), "came from WithBasicAuth", "Push with a wrong password")
		assert.NotContains(t, err.Error(), "wrong-Pa55", "Push with a wrong password")
	}

	img := randomImage(t, 3, 50_000)
	dg, err := Push(ctx, d.Ref("app:v1"), img, opts...)
	require.NoError(t, err, "Push to Distribution\n%s", d.Log)
	got := tr.reset()
	assert.Equal(t, 4, got["PUT upload"], "first push: completed uploads (requests %v)", got)
	pulled, err := Pull(ctx, d.Ref("app:v1"), opts...)
	require.NoError(t, err, "Pull from Distribution")
	validImage(t, pulled)
	assert.Equal(t, dg.DigestStr(), digest(t, pulled).String(), "pulled digest")
	tr.reset()

	// Re-push, same tag and a new tag: nothing uploaded.
	for _, tag := range []string{"v1", "v2"} {
		_, err := Push(ctx, d.Ref("app:"+tag), img, opts...)
		require.NoError(t, err)
		got := tr.reset()
		assert.Zero(t, got["POST upload"]+got["PATCH upload"]+got["PUT upload"], "re-push to app:%s: uploads (%v)", tag, got)
	}

	// Cross-repository: the pulled image's layers are mounted.
	before := d.BlobsOnDisk(t)
	_, err = Push(ctx, d.Ref("other:v1"), pulled, opts...)
	require.NoError(t, err)
	got = tr.reset()
	assert.Zero(t, got["PATCH upload"]+got["GET blob"], "cross-repository push: uploads and downloads (%v)", got)
	assert.Equal(t, before, d.BlobsOnDisk(t), "blobs on disk after a mount")

	// An index, copied from registrytest.
	src := registrytest.New(t)
	idx, err := src.SeedIndex(ctx, "multi:v1", "linux/amd64", "linux/arm64/v8")
	require.NoError(t, err)
	idg, err := PushIndex(ctx, d.Ref("multi:v1"), idx, opts...)
	require.NoError(t, err, "PushIndex to Distribution")
	back, err := PullAny(ctx, d.Ref("multi:v1"), opts...)
	require.NoError(t, err)
	require.Implements(t, (*v1.ImageIndex)(nil), back, "PullAny of an index")
	require.NoError(t, validate.Index(back.(v1.ImageIndex)), "validate.Index")
	arm, err := Pull(ctx, d.Ref("multi:v1"), append(opts, WithPlatform("linux/arm64"))...)
	require.NoError(t, err)
	validImage(t, arm)
	tr.reset()
	_, err = PushAny(ctx, d.Ref("multi:v1"), back, opts...)
	require.NoError(t, err)
	got = tr.reset()
	assert.Zero(t, got["POST upload"]+got["PUT upload"]+got["PUT manifest"], "index re-push: sent (%v)", got)

	// skopeo, with the same credentials, reads both: the raw manifest it
	// gets hashes to the digest we pushed.
	for ref, want := range map[string]string{d.Ref("app:v1"): dg.DigestStr(), d.Ref("multi:v1"): idg.DigestStr()} {
		raw := itest.Run(t, skopeo, "inspect", "--raw", "--creds", user+":"+pass, "--tls-verify=false", "docker://"+ref)
		assert.Equal(t, want, fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(raw))), "skopeo inspect --raw %s: digest", ref)
		out := itest.Run(t, skopeo, "inspect", "--creds", user+":"+pass, "--tls-verify=false", "docker://"+ref)
		var info struct{ Digest, Architecture string }
		require.NoError(t, json.Unmarshal([]byte(out), &info), "skopeo inspect %s\n%s", ref, out)
		if ref == d.Ref("multi:v1") {
			assert.Equal(t, "amd64", info.Architecture, "skopeo inspect %s: architecture", ref)
		}
	}
	_, err = itest.RunErr(t, skopeo, "inspect", "--creds", user+":wrong", "--tls-verify=false", "docker://"+d.Ref("app:v1"))
	assert.Error(t, err, "skopeo inspect with a wrong password succeeded: htpasswd auth is not on")
}

// selfSignedPEM makes a certificate for 127.0.0.1 that is its own
// authority, as PEM, and a pool trusting it.
func selfSignedPEM(t *testing.T) (certPEM, keyPEM []byte, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "itest registry"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), pool
}

// TestDistributionTLS runs Distribution with TLS and htpasswd, as
// production registries are set up: verified TLS with the right CA, a
// certificate error without it, and skopeo with --cert-dir.
func TestDistributionTLS(t *testing.T) {
	skopeo := itest.Require(t, "skopeo")[0]
	const user, pass = "itest", "itest-Pa55"
	certPEM, keyPEM, pool := selfSignedPEM(t)
	d := itest.StartDistribution(t, user, pass, certPEM, keyPEM)
	ctx := ctxT(t)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	auth := WithBasicAuth(user, pass)

	img := randomImage(t, 2, 10_000)
	dg, err := Push(ctx, d.Ref("app:v1"), img, auth, WithTransport(tr))
	require.NoError(t, err, "Push over TLS\n%s", d.Log)
	_, err = Pull(ctx, d.Ref("app:v1"), auth)
	assert.ErrorContains(t, err, "certificate", "Pull without the CA")
	raw := itest.Run(t, skopeo, "inspect", "--raw", "--creds", user+":"+pass, "--cert-dir", d.CertDir, "docker://"+d.Ref("app:v1"))
	assert.Equal(t, dg.DigestStr(), fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(raw))), "skopeo --cert-dir read")
}

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

	"github.com/google/go-containerregistry/pkg/v1/validate"

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
	if _, err := Push(ctx, d.Ref("app:v1"), randomImage(t, 1, 100), WithBasicAuth(user, "wrong")); err == nil ||
		!strings.Contains(err.Error(), "WithBasicAuth") || strings.Contains(err.Error(), pass) {
		t.Errorf("Push with a wrong password = %v", err)
	}

	img := randomImage(t, 3, 50_000)
	dg, err := Push(ctx, d.Ref("app:v1"), img, opts...)
	if err != nil {
		t.Fatalf("Push to Distribution = %v\n%s", err, d.Log)
	}
	if got := tr.reset(); got["PUT upload"] != 4 {
		t.Errorf("first push: %d completed uploads, want 4 (requests %v)", got["PUT upload"], got)
	}
	pulled, err := Pull(ctx, d.Ref("app:v1"), opts...)
	if err != nil {
		t.Fatalf("Pull from Distribution = %v", err)
	}
	validImage(t, pulled)
	if got := digest(t, pulled); got.String() != dg.DigestStr() {
		t.Errorf("pulled %s, pushed %s", got, dg)
	}
	tr.reset()

	// Re-push, same tag and a new tag: nothing uploaded.
	for _, tag := range []string{"v1", "v2"} {
		if _, err := Push(ctx, d.Ref("app:"+tag), img, opts...); err != nil {
			t.Fatal(err)
		}
		got := tr.reset()
		if got["POST upload"]+got["PATCH upload"]+got["PUT upload"] != 0 {
			t.Errorf("re-push to app:%s sent uploads: %v", tag, got)
		}
	}

	// Cross-repository: the pulled image's layers are mounted.
	before := d.BlobsOnDisk(t)
	if _, err := Push(ctx, d.Ref("other:v1"), pulled, opts...); err != nil {
		t.Fatal(err)
	}
	if got := tr.reset(); got["PATCH upload"] != 0 || got["GET blob"] != 0 {
		t.Errorf("cross-repository push uploaded or downloaded blobs: %v", got)
	}
	if after := d.BlobsOnDisk(t); after != before {
		t.Errorf("blobs on disk %d -> %d after a mount, want unchanged", before, after)
	}

	// An index, copied from registrytest.
	src := registrytest.New(t)
	idx, err := src.SeedIndex(ctx, "multi:v1", "linux/amd64", "linux/arm64/v8")
	if err != nil {
		t.Fatal(err)
	}
	idg, err := PushIndex(ctx, d.Ref("multi:v1"), idx, opts...)
	if err != nil {
		t.Fatalf("PushIndex to Distribution = %v", err)
	}
	back, err := PullIndex(ctx, d.Ref("multi:v1"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(back); err != nil {
		t.Fatalf("validate.Index: %v", err)
	}
	arm, err := Pull(ctx, d.Ref("multi:v1"), append(opts, WithPlatform("linux/arm64"))...)
	if err != nil {
		t.Fatal(err)
	}
	validImage(t, arm)
	tr.reset()
	if _, err := PushIndex(ctx, d.Ref("multi:v1"), idx, opts...); err != nil {
		t.Fatal(err)
	}
	if got := tr.reset(); got["POST upload"]+got["PUT upload"]+got["PUT manifest"] != 0 {
		t.Errorf("index re-push sent: %v", got)
	}

	// skopeo, with the same credentials, reads both: the raw manifest it
	// gets hashes to the digest we pushed.
	for ref, want := range map[string]string{d.Ref("app:v1"): dg.DigestStr(), d.Ref("multi:v1"): idg.DigestStr()} {
		raw := itest.Run(t, skopeo, "inspect", "--raw", "--creds", user+":"+pass, "--tls-verify=false", "docker://"+ref)
		if got := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(raw))); got != want {
			t.Errorf("skopeo inspect --raw %s hashes to %s, want %s", ref, got, want)
		}
		out := itest.Run(t, skopeo, "inspect", "--creds", user+":"+pass, "--tls-verify=false", "docker://"+ref)
		var info struct{ Digest, Architecture string }
		if err := json.Unmarshal([]byte(out), &info); err != nil {
			t.Fatalf("skopeo inspect %s: %v\n%s", ref, err, out)
		}
		if info.Architecture != "amd64" && ref == d.Ref("multi:v1") {
			t.Errorf("skopeo inspect %s: architecture %q, want amd64", ref, info.Architecture)
		}
	}
	if _, err := itest.RunErr(t, skopeo, "inspect", "--creds", user+":wrong", "--tls-verify=false", "docker://"+d.Ref("app:v1")); err == nil {
		t.Errorf("skopeo inspect with a wrong password succeeded: htpasswd auth is not on")
	}
}

// selfSignedPEM makes a certificate for 127.0.0.1 that is its own
// authority, as PEM, and a pool trusting it.
func selfSignedPEM(t *testing.T) (certPEM, keyPEM []byte, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
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
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
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
	if err != nil {
		t.Fatalf("Push over TLS = %v\n%s", err, d.Log)
	}
	if _, err := Pull(ctx, d.Ref("app:v1"), auth); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("Pull without the CA = %v, want a certificate error", err)
	}
	raw := itest.Run(t, skopeo, "inspect", "--raw", "--creds", user+":"+pass, "--cert-dir", d.CertDir, "docker://"+d.Ref("app:v1"))
	if got := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(raw))); got != dg.DigestStr() {
		t.Errorf("skopeo --cert-dir read %s, want %s", got, dg.DigestStr())
	}
}

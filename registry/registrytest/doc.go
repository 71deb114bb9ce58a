// Package registrytest runs an in-process OCI registry for tests and
// examples: Docker Distribution's registry (github.com/distribution/distribution/v3)
// on 127.0.0.1 with in-memory storage, so a push that passes against it
// passes against a real registry — manifests that name a blob the
// repository does not hold are refused with MANIFEST_BLOB_UNKNOWN, blobs
// are kept per repository so cross-repository mounts are real, tags list
// with pagination, and blobs, manifests and tags can be deleted.
//
// In front of Distribution it adds what hosted registries do and
// Distribution does not serve by itself: the OCI 1.1 referrers API
// (GET /v2/<name>/referrers/<digest>, with artifactType filtering and the
// OCI-Filters-Applied header; manifests with a subject are answered with
// OCI-Subject), HTTP basic authentication as Distribution's htpasswd mode
// answers it ([WithBasicAuth]), the bearer-token flow with scoped tokens
// ([WithTokenAuth]), TLS with a self-signed certificate ([WithTLS]),
// injected faults ([WithFaults]: failures, connection resets, delays,
// refused mounts), and counters ([Stats]) so a test can assert that
// nothing was uploaded or downloaded.
//
// In tests use [New], which closes the server when the test ends; example
// programs without a testing.T use [Start] and [Server.Close].
//
// Distribution logs through logrus's standard logger and cannot be told
// otherwise; the first [Start] installs a formatter on that logger that
// drops Distribution's entries and formats the others as before.
//
// # Conformance
//
// The package's tests run the OCI distribution-spec conformance suite
// (github.com/opencontainers/distribution-spec/conformance
// v0.0.0-20260831232431-97274622c111, with pull, push, tag listing,
// referrers and the three deletes enabled) against a Server, and require
// every test that Docker Distribution 2.8.2 (Debian's docker-registry)
// passes to pass, and the referrers tests too. Tests counted by name, a
// name passing when all its cases pass:
//
//	variant       registrytest                Distribution 2.8.2
//	              passed  failed  skipped     passed  failed  skipped
//	no auth         297      45       13        263      62       27
//	basic auth      297      45       13        263      62       27
//	token auth      297      45       13        (needs an external token server)
//	TLS             297      45       13        263      62       27
//
// What still fails is what Distribution v3 does not do: sha512 digests
// (37 tests), manifests naming non-distributable layers by URL (7, refused
// as Distribution's default configuration does), and a chunk sent out of
// order answered with 400 rather than 416 (1).
package registrytest

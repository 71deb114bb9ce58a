// Package registrytest runs an in-process OCI registry for tests and
// examples: go-containerregistry's pkg/registry handler on 127.0.0.1, plus
// what hosted registries do and it does not — HTTP basic authentication as
// Docker Distribution's htpasswd mode answers it ([WithBasicAuth]), the
// bearer-token flow with scoped tokens ([WithTokenAuth]), TLS with a
// self-signed certificate ([WithTLS]), injected faults ([WithFaults]:
// failures, connection resets, delays, refused mounts), blobs kept per
// repository so cross-repository mounts are real, and counters ([Stats])
// so a test can assert that nothing was uploaded or downloaded.
//
// In tests use [New], which closes the server when the test ends; example
// programs without a testing.T use [Start] and [Server.Close].
package registrytest

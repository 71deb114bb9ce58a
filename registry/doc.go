// Package registry pulls images from and pushes images to OCI registries,
// on go-containerregistry: every function takes and returns ggcr's own
// v1.Image and v1.ImageIndex.
//
// [Pull] returns an image (for an index, the image of the platform of
// [WithPlatform]), [PullIndex] an index, and [PullAny] whatever the
// reference names, for callers that take both; [Push], [PushIndex] and
// [PushAny] are their counterparts. Pulls are lazy: they read the
// manifest, and layers are fetched only when read, so an image built on a
// pulled base and pushed back to the same registry never downloads the
// base's layers (they are skipped or mounted). A push sends only what the
// repository lacks, in parallel, retrying transient failures with backoff
// (and Retry-After), and reports progress through [WithProgress] (see
// package progressbar for a terminal renderer).
//
// Credentials come from the docker config (DOCKER_CONFIG, credential
// helpers) unless [WithBasicAuth], [WithBearerToken] or [WithKeychain] say
// otherwise. They never appear in errors, and an error for refused access
// ([ErrUnauthorized]) says where they came from, or that none were found.
// Loopback registries (localhost, 127.0.0.0/8, [::1]) may speak plain
// HTTP; any other needs [WithInsecure].
//
// [LayerCache] keeps built layers in a repository, shared by every machine
// that builds the same inputs (see layer.WithRemoteCache); Push mounts
// the layers found there instead of uploading them.
//
// Package registrytest is an in-process registry for tests, with
// authentication, TLS, fault injection and counters.
package registry

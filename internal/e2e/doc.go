// Package e2e holds stevedore's end-to-end tests; it has no code of its
// own. They drive the public packages (layer, image, registry) the way a
// program does and check the results with peers no one here wrote:
//
//   - consumers_test.go: images built by the library (scratch plus a
//     static binary, a busybox-style base plus layers and whiteouts, a
//     multi-platform index, a zstd image, eStargz and zstd:chunked
//     images, whose layers the estargz library also verifies after the
//     registry round trip: lazypull_test.go) pushed to a real Docker
//     Distribution registry and written as OCI layout, OCI tarball and
//     docker tarball, then read by skopeo (inspect, copy), unpacked by
//     umoci (exact file set, modes, owners, symlinks, deleted files gone)
//     and run by runc. Images made the plain go-containerregistry way on an
//     OCI base are shown to fail umoci while ours pass.
//   - cancel_test.go: a build and push cancelled after N bytes, for many N,
//     returns promptly with context.Canceled, leaks no goroutine, leaves no
//     temp file and no half-written cache entry, and the next run succeeds
//     with the same digest; the file outputs, cancelled the same way, leave
//     nothing in their directory.
//   - faults_test.go: an image rebuilt from the same inputs and pushed
//     through injected 5xx, connection resets and delays, with identical
//     digests every time.
//   - crash_test.go: the test binary re-executes itself as a child that
//     builds with a cache and writes an output file, and is killed with
//     SIGKILL mid-write: no file appears at the output path, and the cache
//     still works and gives the same digest.
//   - ref_fuzz_test.go: image references as registry.Pull and registry.Push
//     parse them (the examples hand their -base and -target flags to them),
//     fuzzed without network.
//   - secrets_test.go: the examples/push program through every auth
//     failure, with a known password and token that must appear nowhere in
//     its output.
//
// Integration tests call itest.Require for every tool: they skip on a
// machine without the tools and fail in CI (CI=true), where .ci/run
// installs them. Long loops are behind environment variables
// (STEVEDORE_CANCEL_POINTS, STEVEDORE_CRASH_RUNS, STEVEDORE_FAULT_PUSHES)
// with small defaults.
package e2e

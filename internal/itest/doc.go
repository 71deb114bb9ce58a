// Package itest holds helpers for integration tests that drive tools no one
// here wrote: skopeo, umoci, runc, buildah and Docker Distribution's
// registry.
//
// A test states the tools it needs with [Require]. On a developer's machine
// a missing tool skips the test with a message saying which Debian package
// provides it; in CI (CI=true in the environment) a missing tool fails the
// test instead, so integration coverage can never silently disappear.
package itest

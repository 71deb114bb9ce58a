// Package attest states what went into an image — an SPDX 2.3 SBOM and an
// in-toto statement with a SLSA v1 provenance predicate — from facts the
// build recorded rather than from a scan, and packs each document as an
// OCI 1.1 artifact whose subject is the image, ready to push as a referrer
// (see registry.PushReferrers) or to add to an OCI layout
// ([WriteOCILayout]).
//
// The input is a [Facts] value: the base image and its digest, every input
// (URLs with the sha256 of what was downloaded, directories and io/fs trees
// with their content digests, a git repository and commit), and every Go
// executable the layers hold with its build information (see
// runtime/debug.BuildInfo). [SBOM] and [Provenance] turn facts and the
// image's descriptor into JSON; [ForImage] and [ForIndex] return the
// artifacts, one SBOM and one provenance per platform image.
//
// For an image or index that package image built, the facts need not be
// gathered by hand: the build recorded them (image.Recorder,
// layer.Recorder), [FromImage] reads them, and [Of] returns the artifacts
// in one call. Push them with registry.PushReferrers after the image, or
// carry them in an OCI tarball ([OCIEntries]) or layout
// ([WriteOCILayout]).
//
// Everything is deterministic: the same facts and image give the same
// bytes and so the same artifact digests. Times come from Facts.Created
// (the image's created time, which follows SOURCE_DATE_EPOCH); lists are
// sorted; the SPDX document namespace is derived from the document's own
// content, never from a random UUID.
//
// Packages layer, image and registry do not import this package (it
// imports image), so a program that makes no SBOM does not carry its
// dependencies (the SPDX library, and protobuf through the in-toto
// bindings).
package attest

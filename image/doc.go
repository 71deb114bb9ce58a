// Package image assembles container images and multi-platform indexes from
// a base, added layers and config edits, and writes them to OCI layouts,
// OCI tarballs and `docker load` tarballs.
//
// Everything is go-containerregistry's own types: [Build] takes and returns
// a v1.Image, [BuildIndex] a v1.ImageIndex, and layers are v1.Layer (from
// the layer package, or anywhere else).
//
//	base, _ := registry.Pull(ctx, "cgr.dev/chainguard/static:latest")
//	app, _ := layer.FromDir("./dist", layer.WithRoot("/app"))
//	img, err := image.Build(ctx, base,
//		image.WithLayers(app),
//		image.WithWorkDir("/app"),
//		image.WithEntrypoint("/app/server"),
//		image.WithEnv("PORT", "8080"),
//		image.WithExposedPort("8080/tcp"),
//	)
//	err = image.WriteOCITarball(ctx, "app.tar", img, image.WithRefName("latest"))
//
// # What Build guarantees
//
//   - The base's layers are never read or re-compressed: the result points
//     at the same blobs. Only the added layers are computed, once.
//   - One media type family per image. Layers added to an OCI image get OCI
//     types, to a Docker schema 2 image Docker types, with the same bytes;
//     a zstd layer (or [WithOCIMediaTypes]) turns a Docker image into an OCI
//     one, re-typing every layer with the same digests. ggcr's plain
//     mutate.AppendLayers of its (Docker-typed) tarball layers onto an OCI
//     base mixes the two, and strict OCI tools such as umoci refuse that.
//   - History stays aligned with rootfs.diff_ids: one entry per added layer
//     (created_by from the layer's CreatedBy() when it has one), optional
//     empty_layer entries for config edits ([WithConfigHistory]), and a base
//     whose history is missing or too short is padded.
//   - Reproducible: the created time is [WithCreated], else
//     SOURCE_DATE_EPOCH, else the base's (scratch: the Unix epoch), so the
//     same inputs give the same digest.
//   - Layer annotations: an eStargz or zstd:chunked layer of package layer
//     has the digest of its table of contents and its uncompressed size
//     (layer.Annotated), which a lazy puller needs: they reach its
//     descriptor in the manifest. A base's layer descriptors keep theirs,
//     and a base whose layers have a table of contents is indexed from it
//     (see [Tree]).
//   - Base annotations: a base that implements Reference() name.Reference
//     (registry.Pull's images do) gives the result the annotations
//     org.opencontainers.image.base.name and .base.digest.
//
// # Outputs
//
// [WriteOCILayout], [WriteOCITarball] and [WriteDockerTarball] stream blobs
// (checking each against its digest) and are atomic: a temp file beside the
// target, fsync, rename; a failed or cancelled write leaves no output and
// no temp file. Unlike DESIGN.md's first sketch they take a ctx, because
// they do I/O and must be cancellable. [ReadOCILayout] and [ReadOCITarball]
// open what they wrote (or what skopeo wrote) as a [Layout], from which
// [Layout.Image] and [Layout.ImageIndex] pick an entry by its
// org.opencontainers.image.ref.name ([WithRefName]).
package image

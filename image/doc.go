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
//   - It respects the base: the layers of package layer are placed on the
//     file tree of the image below them ([Tree]), as `docker build`'s COPY
//     does. Directories the base has and a layer only implies (the
//     parents of its entries, the directory of layer.WithRoot) keep the
//     base's mode and owner (a 1777 /tmp stays 1777, a 0700 /opt stays
//     0700; [WithWorkDir] creates its directory only when the base lacks
//     it); a directory a source holds itself is written as it has it, as
//     COPY writes it. A path under a directory the base makes a symlink
//     (/lib -> usr/lib, /var/run -> /run) lands under the link's target
//     and the link survives, where docker build's BuildKit refuses the
//     copy ("cannot copy to non-directory"). [WithSkipUnchanged]
//     also leaves out what the base already has exactly so.
//   - The base's layers are never re-compressed: the result points at the
//     same blobs. They are read (downloaded and decompressed once, to index
//     their files) only when an added layer must be built on them, and not
//     at all when the added layers come from their cache; [WithCache] keeps
//     the index, so a base seen before is never read again.
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
//   - Valid: every manifest, index and config validates against the image
//     spec's JSON schemas (an image with no layer gets an empty one).
//   - Base annotations: a base that implements [Referenced] (registry.Pull's
//     images do) gives the result the annotations
//     org.opencontainers.image.base.name and .base.digest.
//
// The config is go-containerregistry's v1.ConfigFile, read from the base
// and written back: a field it has no place for is not carried over (the
// one docker writes today is Healthcheck.StartInterval, docker 25's
// HEALTHCHECK --start-interval), as with go-containerregistry's mutate.
//
// [BuildAny] takes whatever a reference names (an image or an index), so a
// program that builds on any base has one code path.
//
// # Options
//
// [Option] configures Build, BuildIndex and BuildAny; [IndexOption] adds
// what only an index has ([WithPlatforms], [WithPlatformLayers]);
// [WriteOption] configures the Write functions. An option given where it
// does not belong does not compile.
//
// # Outputs
//
// [WriteOCILayout], [WriteOCITarball] and [WriteDockerTarball] stream blobs
// (checking each against its digest) and are atomic: a temp file beside the
// target, fsync, rename; a failed or cancelled write leaves no output and
// no temp file, and a temp file left by a killed write is removed by the
// next write to the same path. They take a ctx because they do I/O and
// must be cancellable. An OCI layout or tarball holds OCI media types: an
// image of the Docker family is converted ([ToOCI]) as skopeo does when it
// copies into an oci: layout, so its manifest digest there differs; a
// registry push and a docker tarball keep the image's own family.
// [ReadOCILayout] and [ReadOCITarball] open what they wrote (or what
// skopeo wrote) as a [Layout], from which [Layout.Image] and
// [Layout.ImageIndex] pick an entry by its org.opencontainers.image.ref.name
// ([WithRefName]).
package image

// Package dockerfile builds the images of Dockerfiles that run no command
// (no RUN), without a Docker daemon or a container runtime, as docker
// build would: same parser (BuildKit's), same variable expansion, same
// COPY and ADD rules, same config and history.
//
//	img, err := dockerfile.Build(ctx,
//		dockerfile.WithContextDir("./app"),
//		dockerfile.WithResolver(func(ctx context.Context, ref string, p v1.Platform) (v1.Image, error) {
//			return registry.Pull(ctx, ref, registry.WithPlatform(p.String()))
//		}),
//		dockerfile.WithCache(cacheDir))
//
// # What it builds
//
// Every instruction but RUN: FROM (scratch, an image through the Resolver
// the caller gives, or an earlier stage; --platform; ARG before FROM),
// COPY and ADD (from the context, --from a stage or an image; wildcards,
// --chown with names looked up in the stage's /etc/passwd and /etc/group,
// --chmod, --link, --exclude, --parents, heredocs; ADD extracts local
// archives, downloads URLs with --checksum, clones git URLs in memory),
// ENV, ARG (build arguments and the predefined TARGETPLATFORM, BUILDARCH,
// ...), WORKDIR, USER, LABEL, EXPOSE, CMD, ENTRYPOINT, SHELL, VOLUME,
// STOPSIGNAL, HEALTHCHECK, ONBUILD and MAINTAINER. A RUN in a stage the
// target needs (or an ONBUILD RUN of a base image) is reported before any
// work starts, as an InstructionError (file, line, instruction) wrapping
// ErrNeedsRuntime: such a Dockerfile needs a container runtime.
//
// Each COPY, ADD and WORKDIR is one layer, built from its sources alone
// (as COPY --link asks; --link is accepted) and added to the stage's
// image so far. Where docker's COPY depends on the stage's files — a
// destination that is an existing directory, --chown names looked up in
// its /etc/passwd and /etc/group, the directories WORKDIR creates — the
// stage's file tree is that of its image so far (image.Tree: symlinks
// followed inside the root, as docker's COPY does; layer indexes kept in
// the cache of WithCache). One difference: a COPY of a directory that
// holds, say, lib/ onto a base where /lib is a symlink (merged /usr)
// places lib/'s files under the link's target, where BuildKit fails with
// "cannot copy to non-directory". Files copied from the build context get
// 0:0 and the default mtime (SOURCE_DATE_EPOCH, else the epoch), where
// docker keeps the context's mtimes; files copied --from a stage or image
// keep their owners and modes, as docker's do. Several files copied to a
// destination with no trailing slash that is not an existing directory
// all land at that path, the last one winning, as with BuildKit
// (moby/buildkit#1853; the classic builder refuses it, and docker's
// reference asks for the slash).
//
// # The build context
//
// Only what COPY and ADD name is read: a COPY of services/api walks that
// directory alone (confined with os.Root), so other services of a
// monorepo are never opened. The context's .dockerignore applies, and a
// NAME.dockerignore beside the Dockerfile takes precedence, as with docker
// build. With WithCache every COPY, ADD and WORKDIR layer goes through the
// layer cache: an unchanged context costs a stat walk.
//
// # Results
//
// Build returns one image, BuildIndex an OCI index with one image per
// platform of WithPlatforms. Images have OCI media types (as BuildKit
// writes them) and the history docker build records: one entry per
// instruction, created_by in BuildKit's words ("COPY . . # buildkit",
// "ENV A=1"), empty_layer for those that add no layer, comment
// "buildkit.dockerfile.v0". Their created time is reproducible (see
// image.WithCreated) where docker's is the time of the build. One setting
// is lost: HEALTHCHECK --start-interval, which go-containerregistry's
// config type has no field for (the history keeps the instruction as
// written).
//
// # Progress
//
// WithProgress receives typed events (steps, cache hits, layers, the
// image); NewJSONWriter renders them as docker's JSON message stream, so
// programs written for the daemon's ImageBuild response keep working.
package dockerfile

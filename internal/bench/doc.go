// Package bench holds stevedore's benchmark suite: each benchmark runs the
// plain go-containerregistry way of doing a job (the pattern of most blog
// posts: re-root a tar stream with archive/tar, tarball.LayerFromReader,
// mutate.AppendLayers, mutate.Config, remote.Write) and stevedore's way,
// side by side in the same process, and reports time, throughput, the
// ratio of the two and the peak heap growth.
//
// The package has no code outside its tests. Its test data (a Go
// release-shaped tarball made from the local GOROOT, a ko-like tarball, two
// synthetic monorepos and a static Go binary) is generated
// deterministically on the first benchmark run, never downloaded, into
// $STEVEDORE_BENCH_DATA or, by default, stevedore-bench in the user's
// cache directory (~/.cache on Linux; about 1 GB), kept for later runs. `go test ./...` only compiles the benchmarks and runs a
// small test that checks both ways build the same file tree.
//
// Run the suite (see BENCHMARKS.md at the repository root for the figures
// and the method):
//
//	go test ./internal/bench -run '^$' -bench . -benchtime 1x -count 5 -timeout 60m
package bench

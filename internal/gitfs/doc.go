// Package gitfs reads git repositories without a git binary or a checkout:
// Clone fetches a repository into memory with go-git and FS presents a
// commit's tree as an io/fs.FS (symlinks and executable bits kept), which
// layer.FS turns into a layer. The examples and image/dockerfile (ADD of a
// git URL, git build contexts) share it.
package gitfs

package layer

// WithMatchPrefix matches the patterns of WithInclude, WithExclude and
// WithIgnoreFile against prefix/NAME instead of NAME (the entry's path
// relative to the source, after WithStripComponents), for patterns written
// relative to a directory above the source: a build context's
// .dockerignore when the source is one of its subdirectories, say
// Dir("ctx/services/api", WithMatchPrefix("services/api"),
// WithIgnoreFile("ctx/.dockerignore")). Directories that cannot hold a
// match are still skipped unread. prefix is a slash path, cleaned as if it
// started at the root ("/a/../b" and "../b" are "b"). WithOnly is not
// affected. The default is no prefix.
func WithMatchPrefix(prefix string) SourceOption {
	return func(o *sourceOptions) error {
		c, ok := cleanRel(prefix)
		if !ok || c == "" {
			return optErr("WithMatchPrefix", "invalid prefix %q", prefix)
		}
		o.matchPrefix = c
		return nil
	}
}

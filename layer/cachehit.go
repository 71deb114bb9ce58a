package layer

// CacheHit reports whether the layer, once built, came from the cache of
// WithCache as it was (a stat walk or a key, no tar written, nothing
// compressed), so that progress can say "using cache" as docker build
// does. It is false before the layer is built and for layers without a
// cache. The layers of this package have it; assert it with
// interface{ CacheHit() bool }.
func (l *layer) CacheHit() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.hit
}

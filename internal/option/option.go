package option

// Apply applies opts to o in order. A nil option is skipped (so that a
// caller may pass a conditionally built list); the first error stops it
// and is returned as is.
func Apply[T any, O ~func(*T) error](o *T, opts []O) error {
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(o); err != nil {
			return err
		}
	}
	return nil
}

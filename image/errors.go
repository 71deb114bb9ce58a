package image

import "errors"

var (
	// ErrInvalidOption reports an invalid option argument, or an option
	// given where it does not apply.
	ErrInvalidOption = errors.New("image: invalid option")

	// ErrUnsupportedBase reports a base that is not an image this package
	// can build on: a Docker schema 1 manifest, an artifact whose config is
	// not an image config, a layer of unknown media type, or a config whose
	// diff_ids do not match the manifest's layers (in number, or, for a
	// layer read to index it, in content; for a layer of package layer,
	// the diff ID its build computed).
	ErrUnsupportedBase = errors.New("image: unsupported base")

	// ErrPlatformMismatch reports a [WithPlatform] that disagrees with the
	// platform of the base's config.
	ErrPlatformMismatch = errors.New("image: platform does not match the base")

	// ErrAnnotationsNeedOCI reports [WithAnnotation] on an image of the
	// Docker family, whose manifests have no annotations field.
	ErrAnnotationsNeedOCI = errors.New("image: annotations need OCI media types (use WithOCIMediaTypes)")

	// ErrNotFound reports a name or platform that a layout or index does
	// not hold.
	ErrNotFound = errors.New("image: not found")

	// ErrAmbiguous reports a lookup without a name in a layout that holds
	// more than one candidate.
	ErrAmbiguous = errors.New("image: ambiguous")
)

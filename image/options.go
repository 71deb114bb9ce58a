package image

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Option configures [Build], [BuildIndex] and the Write functions. Options
// are applied in order; when two options set the same thing, the later one
// wins. An option that does not apply to the function it is given to (for
// example [WithRefName] given to [Build]) is an error.
type Option func(*options) error

// configEdit is one config change, applied in option order.
type configEdit struct {
	apply func(*editState) error
	// history is the created_by text of the empty_layer history entry
	// recorded for this edit when WithConfigHistory is set.
	history string
}

// editState is the config being edited plus what the rules between edits
// need to know.
type editState struct {
	cf     *v1.ConfigFile
	cmdSet bool // WithCmd was given before (Docker keeps such a Cmd on ENTRYPOINT)
}

type options struct {
	layers         []v1.Layer
	platformLayers func(v1.Platform) ([]v1.Layer, error)
	platforms      []v1.Platform
	platform       *v1.Platform
	edits          []configEdit
	workDir        string
	annotations    map[string]string
	created        *time.Time
	configHistory  bool
	oci            bool
	history        []v1.History // WithHistory
	historySet     bool

	refName string

	// build and write name the options given that only apply to Build /
	// BuildIndex and only to the Write functions, for error messages.
	build []string
	write []string
	// indexOnly names options that only apply to BuildIndex.
	indexOnly []string
}

// errOption wraps an invalid option argument.
func errOption(opt string, format string, args ...any) error {
	return fmt.Errorf("image: %s: %s: %w", opt, fmt.Sprintf(format, args...), ErrInvalidOption)
}

// ErrInvalidOption is wrapped by every error that reports a bad option
// argument.
var ErrInvalidOption = errors.New("image: invalid option")

func makeOptions(opts []Option) (*options, error) {
	o := &options{}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(o); err != nil {
			return nil, err
		}
	}
	return o, nil
}

func (o *options) edit(name, history string, f func(*editState) error) {
	o.build = append(o.build, name)
	o.edits = append(o.edits, configEdit{apply: f, history: history})
}

// WithLayers appends layers to the image, in order, after the base's layers
// (and after the working-directory layer of [WithWorkDir], if any). Each
// layer is re-typed, with the same bytes, to the media type family of the
// image (see [Build]). Several WithLayers options add up. In [BuildIndex]
// these layers go into every platform, before that platform's own layers
// from [WithPlatformLayers]. The default is no added layers.
func WithLayers(layers ...v1.Layer) Option {
	return func(o *options) error {
		for i, l := range layers {
			if l == nil {
				return errOption("WithLayers", "layer %d is nil", i)
			}
		}
		o.build = append(o.build, "WithLayers")
		o.layers = append(o.layers, layers...)
		return nil
	}
}

// WithLayerHistory is [WithLayers] with the created_by text of the
// layers' history entries given: for layers that do not say what made them
// (ggcr's own layers, for one), instead of "stevedore: layer sha256:...".
// The default is the layer's own CreatedBy() text, if it has one.
func WithLayerHistory(createdBy string, layers ...v1.Layer) Option {
	return func(o *options) error {
		if createdBy == "" {
			return errOption("WithLayerHistory", "empty created_by")
		}
		for i, l := range layers {
			if l == nil {
				return errOption("WithLayerHistory", "layer %d is nil", i)
			}
		}
		o.build = append(o.build, "WithLayerHistory")
		for _, l := range layers {
			o.layers = append(o.layers, &described{Layer: l, by: createdBy})
		}
		return nil
	}
}

// WithPlatformLayers gives [BuildIndex] a function returning the layers of
// one platform; they are appended after the shared layers of [WithLayers].
// The function is called once per platform built. The default is no
// per-platform layers.
func WithPlatformLayers(f func(v1.Platform) ([]v1.Layer, error)) Option {
	return func(o *options) error {
		if f == nil {
			return errOption("WithPlatformLayers", "function is nil")
		}
		o.build = append(o.build, "WithPlatformLayers")
		o.indexOnly = append(o.indexOnly, "WithPlatformLayers")
		o.platformLayers = f
		return nil
	}
}

// WithPlatforms picks the platforms [BuildIndex] builds, such as
// "linux/amd64" or "linux/arm/v7". With a base index, each must match at
// least one image of the base (a platform without a variant matches any
// variant); images of other platforms are left out. Without a base, it lists
// the platforms of the scratch index. The default is every platform of the
// base index (and, from scratch, an error: there is nothing to default to).
func WithPlatforms(platforms ...string) Option {
	return func(o *options) error {
		if len(platforms) == 0 {
			return errOption("WithPlatforms", "no platform given")
		}
		ps := make([]v1.Platform, 0, len(platforms))
		for _, s := range platforms {
			p, err := parsePlatform(s)
			if err != nil {
				return errOption("WithPlatforms", "%v", err)
			}
			ps = append(ps, *p)
		}
		o.build = append(o.build, "WithPlatforms")
		o.indexOnly = append(o.indexOnly, "WithPlatforms")
		o.platforms = ps
		return nil
	}
}

// WithPlatform sets the platform ("linux/arm64", "linux/arm/v7") of an image
// built from scratch. For a non-nil base the platform comes from the base's
// config and WithPlatform must agree with it (else [Build] fails with
// [ErrPlatformMismatch]). The default is linux/amd64 for scratch.
func WithPlatform(platform string) Option {
	return func(o *options) error {
		p, err := parsePlatform(platform)
		if err != nil {
			return errOption("WithPlatform", "%v", err)
		}
		o.build = append(o.build, "WithPlatform")
		o.platform = p
		return nil
	}
}

func parsePlatform(s string) (*v1.Platform, error) {
	p, err := v1.ParsePlatform(s)
	if err != nil {
		return nil, fmt.Errorf("platform %q: %w", s, err)
	}
	if p.OS == "" || p.Architecture == "" || p.OS == "unknown" || p.Architecture == "unknown" {
		return nil, fmt.Errorf("platform %q: want os/arch[/variant]", s)
	}
	return p, nil
}

// WithEnv sets the environment variable key to value, replacing an earlier
// value of key (from the base or an earlier option) in place. The key must
// be non-empty and hold no "=". The default is the base's environment.
func WithEnv(key, value string) Option {
	return func(o *options) error {
		if key == "" || strings.Contains(key, "=") {
			return errOption("WithEnv", "key %q must be non-empty and hold no '='", key)
		}
		o.edit("WithEnv", "stevedore: env "+key+"="+value, func(s *editState) error {
			s.cf.Config.Env = setEnv(s.cf.Config.Env, key, value)
			return nil
		})
		return nil
	}
}

// WithoutEnv removes the environment variable key (every entry for it). The
// default is the base's environment.
func WithoutEnv(key string) Option {
	return func(o *options) error {
		if key == "" || strings.Contains(key, "=") {
			return errOption("WithoutEnv", "key %q must be non-empty and hold no '='", key)
		}
		o.edit("WithoutEnv", "stevedore: unset env "+key, func(s *editState) error {
			s.cf.Config.Env = unsetEnv(s.cf.Config.Env, key)
			return nil
		})
		return nil
	}
}

// DefaultPath is the PATH that [WithPathPrepend] and [WithPathAppend] start
// from when the image has no PATH: the conventional default of Docker and
// most distributions.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// WithPathPrepend puts absolute directories at the front of PATH, in the
// order given. PATH is created from [DefaultPath] when the image has none. A
// directory already on PATH is not added again and stays where it is. The
// default is the base's PATH.
func WithPathPrepend(dirs ...string) Option {
	return pathOption("WithPathPrepend", "prepend", true, dirs)
}

// WithPathAppend puts absolute directories at the end of PATH, in the order
// given. PATH is created from [DefaultPath] when the image has none. A
// directory already on PATH is not added again and stays where it is. The
// default is the base's PATH.
func WithPathAppend(dirs ...string) Option {
	return pathOption("WithPathAppend", "append", false, dirs)
}

func pathOption(name, verb string, front bool, dirs []string) Option {
	return func(o *options) error {
		if len(dirs) == 0 {
			return errOption(name, "no directory given")
		}
		for _, d := range dirs {
			if !path.IsAbs(d) || strings.Contains(d, ":") {
				return errOption(name, "directory %q must be absolute and hold no ':'", d)
			}
		}
		dirs := append([]string(nil), dirs...)
		o.edit(name, "stevedore: path "+verb+" "+strings.Join(dirs, ":"), func(s *editState) error {
			s.cf.Config.Env = editPath(s.cf.Config.Env, dirs, front)
			return nil
		})
		return nil
	}
}

// WithWorkDir sets the working directory to the absolute directory dir and,
// unless the base config's working directory is already dir, adds a small
// layer holding dir (and its parents) as 0755 directories owned by 0:0,
// dated with the image's created time (see [WithCreated]), so
// that runtimes which do not create the working directory still start. The
// base's layers are never read: the base config's WorkingDir is the only
// thing consulted, so a base that has dir without naming it as its working
// directory gets the layer too (harmless: same directory). The layer goes
// before the layers of [WithLayers], which may change the directory's mode
// or owner. The default is the base's working directory and no layer.
func WithWorkDir(dir string) Option {
	return func(o *options) error {
		if !path.IsAbs(dir) {
			return errOption("WithWorkDir", "directory %q must be absolute", dir)
		}
		dir := path.Clean(dir)
		o.workDir = dir
		o.edit("WithWorkDir", "stevedore: workdir "+dir, func(s *editState) error {
			s.cf.Config.WorkingDir = dir
			return nil
		})
		return nil
	}
}

// WithEntrypoint sets the entrypoint. As in Docker, setting it clears a Cmd
// inherited from the base (a Cmd set with [WithCmd], before or after, is
// kept). With no arguments it clears the entrypoint. The default is the
// base's entrypoint.
func WithEntrypoint(args ...string) Option {
	return func(o *options) error {
		if len(args) > 0 && args[0] == "" {
			return errOption("WithEntrypoint", "empty executable")
		}
		args := cloneArgs(args)
		o.edit("WithEntrypoint", "stevedore: entrypoint "+quoteArgs(args), func(s *editState) error {
			s.cf.Config.Entrypoint = args
			if !s.cmdSet {
				s.cf.Config.Cmd = nil
			}
			return nil
		})
		return nil
	}
}

// WithCmd sets the command (the arguments to the entrypoint, or the program
// when there is no entrypoint). With no arguments it clears the command. The
// default is the base's command, unless [WithEntrypoint] cleared it.
func WithCmd(args ...string) Option {
	return func(o *options) error {
		args := cloneArgs(args)
		o.edit("WithCmd", "stevedore: cmd "+quoteArgs(args), func(s *editState) error {
			s.cf.Config.Cmd = args
			s.cmdSet = true
			return nil
		})
		return nil
	}
}

func cloneArgs(args []string) []string {
	if len(args) == 0 {
		return nil
	}
	return append([]string(nil), args...)
}

func quoteArgs(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = strconv.Quote(a)
	}
	return "[" + strings.Join(q, " ") + "]"
}

// WithUser sets the user the container runs as: "name", "uid",
// "name:group" or "uid:gid". The default is the base's user (root when the
// base names none).
func WithUser(user string) Option {
	return func(o *options) error {
		parts := strings.Split(user, ":")
		if user == "" || len(parts) > 2 || strings.ContainsAny(user, " \t\n/") {
			return errOption("WithUser", "user %q: want user, uid, user:group or uid:gid", user)
		}
		for _, p := range parts {
			if p == "" {
				return errOption("WithUser", "user %q: empty part", user)
			}
		}
		o.edit("WithUser", "stevedore: user "+user, func(s *editState) error {
			s.cf.Config.User = user
			return nil
		})
		return nil
	}
}

// WithLabel sets the config label key to value (labels are what `docker
// inspect` shows; for manifest annotations see [WithAnnotation]). The
// default is the base's labels.
func WithLabel(key, value string) Option {
	return func(o *options) error {
		if key == "" {
			return errOption("WithLabel", "empty key")
		}
		o.edit("WithLabel", "stevedore: label "+key+"="+value, func(s *editState) error {
			if s.cf.Config.Labels == nil {
				s.cf.Config.Labels = map[string]string{}
			}
			s.cf.Config.Labels[key] = value
			return nil
		})
		return nil
	}
}

// WithAnnotation sets the manifest annotation key to value; in [BuildIndex]
// it goes on the index and on every image of it. Annotations need OCI media
// types (Docker schema 2 manifests have no annotations field): on an image
// of the Docker family, use [WithOCIMediaTypes] too, or [Build] fails with
// [ErrAnnotationsNeedOCI]. An explicit annotation overrides the automatic
// base-image annotations (see [Build]). The default is no annotations other
// than the automatic ones; the base manifest's own annotations describe the
// base and are not carried over.
func WithAnnotation(key, value string) Option {
	return func(o *options) error {
		if key == "" {
			return errOption("WithAnnotation", "empty key")
		}
		o.build = append(o.build, "WithAnnotation")
		if o.annotations == nil {
			o.annotations = map[string]string{}
		}
		o.annotations[key] = value
		return nil
	}
}

// WithExposedPort records a port the container listens on: "8080/tcp",
// "53/udp", "9/sctp", or "8080" (meaning tcp). The default is the base's
// exposed ports.
func WithExposedPort(port string) Option {
	return func(o *options) error {
		p, err := parsePort(port)
		if err != nil {
			return errOption("WithExposedPort", "%v", err)
		}
		o.edit("WithExposedPort", "stevedore: expose "+p, func(s *editState) error {
			if s.cf.Config.ExposedPorts == nil {
				s.cf.Config.ExposedPorts = map[string]struct{}{}
			}
			s.cf.Config.ExposedPorts[p] = struct{}{}
			return nil
		})
		return nil
	}
}

func parsePort(port string) (string, error) {
	num, proto, found := strings.Cut(port, "/")
	if !found {
		proto = "tcp"
	}
	switch proto {
	case "tcp", "udp", "sctp":
	default:
		return "", fmt.Errorf("port %q: protocol %q is not tcp, udp or sctp", port, proto)
	}
	n, err := strconv.ParseUint(num, 10, 16)
	if err != nil || n == 0 || strconv.FormatUint(n, 10) != num {
		return "", fmt.Errorf("port %q: want a number from 1 to 65535", port)
	}
	return num + "/" + proto, nil
}

// WithVolume declares the absolute path dir a volume. The default is the
// base's volumes.
func WithVolume(dir string) Option {
	return func(o *options) error {
		if !path.IsAbs(dir) {
			return errOption("WithVolume", "path %q must be absolute", dir)
		}
		dir := path.Clean(dir)
		o.edit("WithVolume", "stevedore: volume "+dir, func(s *editState) error {
			if s.cf.Config.Volumes == nil {
				s.cf.Config.Volumes = map[string]struct{}{}
			}
			s.cf.Config.Volumes[dir] = struct{}{}
			return nil
		})
		return nil
	}
}

// WithStopSignal sets the signal that stops the container: a name such as
// "SIGTERM" or "SIGRTMIN+3", or a number from 1 to 64. The default is the
// base's stop signal (SIGTERM when the base names none).
func WithStopSignal(sig string) Option {
	return func(o *options) error {
		if !validSignal(sig) {
			return errOption("WithStopSignal", "signal %q: want a name like SIGTERM or a number from 1 to 64", sig)
		}
		o.edit("WithStopSignal", "stevedore: stopsignal "+sig, func(s *editState) error {
			s.cf.Config.StopSignal = sig
			return nil
		})
		return nil
	}
}

func validSignal(sig string) bool {
	if n, err := strconv.Atoi(sig); err == nil {
		return n >= 1 && n <= 64 && strconv.Itoa(n) == sig
	}
	rest, ok := strings.CutPrefix(sig, "SIG")
	if !ok || rest == "" {
		return false
	}
	for _, r := range rest {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '+' || r == '-') {
			return false
		}
	}
	return true
}

// WithCreated sets the image's created time, also used for the history
// entries this package adds. The default is the time in SOURCE_DATE_EPOCH
// (seconds since the Unix epoch) when that is set, else the base's created
// time, and for scratch the Unix epoch: rebuilding the same inputs gives the
// same digest.
func WithCreated(t time.Time) Option {
	return func(o *options) error {
		if t.IsZero() {
			return errOption("WithCreated", "zero time")
		}
		o.build = append(o.build, "WithCreated")
		t := t.UTC()
		o.created = &t
		return nil
	}
}

// WithConfigHistory records, for every config edit (WithEnv, WithCmd,
// WithLabel, ...), an empty_layer history entry saying what was changed, as
// `docker build` does for ENV or CMD. They come after the entries of the
// added layers, in option order. The default is no such entries: history
// then has exactly one entry per added layer.
func WithConfigHistory() Option {
	return func(o *options) error {
		o.build = append(o.build, "WithConfigHistory")
		o.configHistory = true
		return nil
	}
}

// WithOCIMediaTypes converts an image of the Docker family (Docker schema 2
// manifest and config) to OCI media types: manifest, config and every layer
// are re-typed, with the same bytes and so the same layer digests. In
// [BuildIndex] the index becomes an OCI image index. The default is to keep
// the family of the base (scratch is OCI), except that a zstd layer forces
// OCI.
func WithOCIMediaTypes() Option {
	return func(o *options) error {
		o.build = append(o.build, "WithOCIMediaTypes")
		o.oci = true
		return nil
	}
}

// RefNameAnnotation is the annotation of an OCI layout's index.json entry
// that names it, read by `skopeo copy oci:dir:NAME` and `umoci unpack
// --image dir:NAME`.
const RefNameAnnotation = "org.opencontainers.image.ref.name"

// WithRefName names the image or index in the OCI layout written by
// [WriteOCILayout] or [WriteOCITarball]: its index.json entry gets the
// annotation org.opencontainers.image.ref.name=name (a tag such as "latest"
// or "v1.2"). [WriteOCILayout] moves the name from an entry that had it
// before, removing that entry from index.json. The default is no name.
func WithRefName(name string) Option {
	return func(o *options) error {
		if name == "" || strings.ContainsAny(name, " \t\n") {
			return errOption("WithRefName", "name %q must be non-empty without whitespace", name)
		}
		o.write = append(o.write, "WithRefName")
		o.refName = name
		return nil
	}
}

// forBuild checks that only build options were given.
func (o *options) forBuild(fn string, index bool) error {
	if len(o.write) > 0 {
		return fmt.Errorf("image: %s applies to the Write functions, not %s: %w", o.write[0], fn, ErrInvalidOption)
	}
	if !index && len(o.indexOnly) > 0 {
		return fmt.Errorf("image: %s applies to BuildIndex, not %s: %w", o.indexOnly[0], fn, ErrInvalidOption)
	}
	return nil
}

// forWrite checks that only write options were given.
func (o *options) forWrite(fn string) error {
	if len(o.build) > 0 {
		return fmt.Errorf("image: %s applies to Build and BuildIndex, not %s: %w", o.build[0], fn, ErrInvalidOption)
	}
	return nil
}

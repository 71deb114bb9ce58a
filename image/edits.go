package image

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/stevedore-dev/stevedore/internal/stopsignal"
)

// WithEnv sets the environment variable key to value, replacing an earlier
// value of key (from the base or an earlier option) in place. The key must
// be non-empty and hold no "=". The default is the base's environment.
func WithEnv(key, value string) Option {
	return func(o *options) error {
		if key == "" || strings.Contains(key, "=") {
			return errOption("WithEnv", "key %q must be non-empty and hold no '='", key)
		}
		o.edit("stevedore: env "+key+"="+value, func(s *editState) error {
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
		o.edit("stevedore: unset env "+key, func(s *editState) error {
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
		o.edit("stevedore: path "+verb+" "+strings.Join(dirs, ":"), func(s *editState) error {
			s.cf.Config.Env = editPath(s.cf.Config.Env, dirs, front)
			return nil
		})
		return nil
	}
}

// WithWorkDir sets the working directory to the absolute directory dir and,
// unless the base config's working directory is already dir, adds a small
// layer that makes dir as a Dockerfile's WORKDIR does: when the image below
// lacks it, dir (and the parents it lacks) as 0755 directories owned by
// 0:0, dated with the image's created time (see [WithCreated]), so that
// runtimes which do not create the working directory still start; when
// the image has it, the directory is left as it is (the layer is then
// empty). The layer goes before the layers of [WithLayers], which may
// change the directory's mode or owner. The default is the base's working
// directory and no layer.
func WithWorkDir(dir string) Option {
	return func(o *options) error {
		if !path.IsAbs(dir) {
			return errOption("WithWorkDir", "directory %q must be absolute", dir)
		}
		dir := path.Clean(dir)
		o.workDir = dir
		o.edit("stevedore: workdir "+dir, func(s *editState) error {
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
		o.edit("stevedore: entrypoint "+quoteArgs(args), func(s *editState) error {
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
		o.edit("stevedore: cmd "+quoteArgs(args), func(s *editState) error {
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
		o.edit("stevedore: user "+user, func(s *editState) error {
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
		o.edit("stevedore: label "+key+"="+value, func(s *editState) error {
			put(&s.cf.Config.Labels, key, value)
			return nil
		})
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
		o.edit("stevedore: expose "+p, func(s *editState) error {
			put(&s.cf.Config.ExposedPorts, p, struct{}{})
			return nil
		})
		return nil
	}
}

// put sets (*m)[key] to v, making the map first when *m is nil.
func put[V any](m *map[string]V, key string, v V) {
	if *m == nil {
		*m = map[string]V{}
	}
	(*m)[key] = v
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
		o.edit("stevedore: volume "+dir, func(s *editState) error {
			put(&s.cf.Config.Volumes, dir, struct{}{})
			return nil
		})
		return nil
	}
}

// WithStopSignal sets the signal that stops the container: a Linux signal
// name with or without "SIG", in any case ("SIGTERM", "TERM",
// "SIGRTMIN+3"), or a non-zero number, as docker's STOPSIGNAL accepts it.
// The image records sig as written. The default is the base's stop signal
// (SIGTERM when the base names none).
func WithStopSignal(sig string) Option {
	return func(o *options) error {
		if !stopsignal.Valid(sig) {
			return errOption("WithStopSignal", "signal %q: want a Linux signal name such as SIGTERM, or a non-zero number", sig)
		}
		o.edit("stevedore: stopsignal "+sig, func(s *editState) error {
			s.cf.Config.StopSignal = sig
			return nil
		})
		return nil
	}
}

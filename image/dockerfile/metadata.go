package dockerfile

import (
	"fmt"
	"net"
	"path"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/stevedore-dev/stevedore/internal/stopsignal"
)

// This file holds the instructions that only change the config, each as
// BuildKit's dockerfile2llb dispatches it (same config edit, same
// created_by text), so that config and history match docker build's.

// historyComment is what docker build (BuildKit) writes in the comment of
// every history entry it adds.
const historyComment = "buildkit.dockerfile.v0"

// record adds a history entry for an instruction.
func (s *stageState) record(createdBy string, layer bool) {
	s.pending = append(s.pending, v1.History{CreatedBy: createdBy, Comment: historyComment, EmptyLayer: !layer})
}

// addEnv sets k=v in env, replacing an existing k in place.
func addEnv(env []string, k, v string) []string {
	for i, kv := range env {
		if key, _, _ := strings.Cut(kv, "="); key == k {
			env[i] = k + "=" + v
			return env
		}
	}
	return append(env, k+"="+v)
}

func (s *stageState) dispatchEnv(c *instructions.EnvCommand) {
	msg := "ENV"
	for _, kv := range c.Env {
		msg += " " + kv.String()
		s.env.set(kv.Key, kv.Value)
		s.cfg.Config.Env = addEnv(s.cfg.Config.Env, kv.Key, kv.Value)
	}
	s.record(msg, false)
}

func (s *stageState) dispatchMaintainer(c *instructions.MaintainerCommand) {
	s.cfg.Author = c.Maintainer
	s.record("MAINTAINER "+c.Maintainer, false)
}

func (s *stageState) dispatchLabel(c *instructions.LabelCommand) {
	msg := "LABEL"
	if s.cfg.Config.Labels == nil {
		s.cfg.Config.Labels = map[string]string{}
	}
	for _, kv := range c.Labels {
		s.cfg.Config.Labels[kv.Key] = kv.Value
		msg += " " + kv.String()
	}
	s.record(msg, false)
}

func (s *stageState) dispatchOnbuild(c *instructions.OnbuildCommand) {
	s.cfg.Config.OnBuild = append(s.cfg.Config.OnBuild, c.Expression)
}

// withShell is the shell form of args: the config's SHELL (or /bin/sh -c)
// with the words joined.
func withShell(cfg *v1.Config, args []string) []string {
	sh := []string{"/bin/sh", "-c"}
	if len(cfg.Shell) > 0 {
		sh = append([]string(nil), cfg.Shell...)
	}
	return append(sh, strings.Join(args, " "))
}

func (s *stageState) dispatchCmd(c *instructions.CmdCommand) {
	args := c.CmdLine
	if c.PrependShell {
		args = withShell(&s.cfg.Config, args)
	}
	s.cfg.Config.Cmd = args
	s.cfg.Config.ArgsEscaped = true
	s.cmdSet = true
	s.record(fmt.Sprintf("CMD %q", args), false)
}

func (s *stageState) dispatchEntrypoint(c *instructions.EntrypointCommand) {
	args := c.CmdLine
	if c.PrependShell {
		args = withShell(&s.cfg.Config, args)
	}
	s.cfg.Config.Entrypoint = args
	if !s.cmdSet {
		s.cfg.Config.Cmd = nil
	}
	s.record(fmt.Sprintf("ENTRYPOINT %q", args), false)
}

func (s *stageState) dispatchHealthcheck(c *instructions.HealthCheckCommand) {
	h := c.Health
	s.cfg.Config.Healthcheck = &v1.HealthConfig{
		Test: h.Test, Interval: h.Interval, Timeout: h.Timeout,
		StartPeriod: h.StartPeriod, Retries: h.Retries,
	}
	// The text is BuildKit's: %q of docker's HealthcheckConfig.
	s.record(fmt.Sprintf("HEALTHCHECK %q", h), false)
}

func (s *stageState) dispatchExpose(c *instructions.ExposeCommand) error {
	var words []string
	for _, p := range c.Ports {
		ws, err := s.b.p.lex.ProcessWords(p, s.env)
		if err != nil {
			return err
		}
		words = append(words, ws...)
	}
	var ports []string
	for _, w := range words {
		ps, err := parsePort(w)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrParse, err)
		}
		ports = append(ports, ps...)
	}
	if s.cfg.Config.ExposedPorts == nil {
		s.cfg.Config.ExposedPorts = map[string]struct{}{}
	}
	for _, p := range ports {
		s.cfg.Config.ExposedPorts[p] = struct{}{}
	}
	s.record(fmt.Sprintf("EXPOSE %v", ports), false)
	return nil
}

// parsePort turns an EXPOSE word, [[ip:]hostport:]port[-end][/proto], into
// "port/proto" entries, as BuildKit does (ranges expanded, the protocol
// lowercased, tcp by default).
func parsePort(raw string) ([]string, error) {
	parts := strings.Split(raw, ":")
	ip, hostPort, containerPort := "", "", parts[len(parts)-1]
	if len(parts) >= 2 {
		hostPort = parts[len(parts)-2]
	}
	if len(parts) >= 3 {
		ip = strings.Join(parts[:len(parts)-2], ":")
	}
	port, proto, _ := strings.Cut(containerPort, "/")
	switch strings.ToLower(proto) {
	case "":
		proto = "tcp"
	case "tcp", "udp", "sctp":
	default:
		return nil, fmt.Errorf("invalid port %q: invalid proto: %s", raw, proto)
	}
	if port == "" {
		return nil, fmt.Errorf("invalid port %q: no port specified", raw)
	}
	if ip != "" {
		if strings.HasPrefix(ip, "[") {
			ip = strings.TrimSuffix(strings.TrimPrefix(ip, "["), "]")
		}
		if net.ParseIP(ip) == nil {
			return nil, fmt.Errorf("invalid IP address: %s", ip)
		}
	}
	start, end, err := portRange(port)
	if err != nil {
		return nil, fmt.Errorf("invalid containerPort: %s", port)
	}
	if hostPort != "" {
		hs, he, err := portRange(hostPort)
		if err != nil {
			return nil, fmt.Errorf("invalid hostPort: %s", hostPort)
		}
		if end-start != he-hs && end != start {
			return nil, fmt.Errorf("invalid ranges specified for container and host Ports: %s and %s", port, hostPort)
		}
	}
	var out []string
	for p := start; p <= end; p++ {
		out = append(out, strconv.Itoa(p)+"/"+strings.ToLower(proto))
	}
	return out, nil
}

func portRange(s string) (int, int, error) {
	a, b, ok := strings.Cut(s, "-")
	start, err := portNumber(a)
	if err != nil {
		return 0, 0, err
	}
	if !ok || a == b {
		return start, start, nil
	}
	end, err := portNumber(b)
	if err != nil || end < start {
		return 0, 0, fmt.Errorf("invalid port range: %s", s)
	}
	return start, end, nil
}

func portNumber(s string) (int, error) {
	n, err := strconv.ParseInt(s, 10, 0)
	if err != nil || n < 0 || n > 65535 {
		return 0, fmt.Errorf("invalid port %q", s)
	}
	return int(n), nil
}

func (s *stageState) dispatchUser(c *instructions.UserCommand) {
	s.cfg.Config.User = c.User
	s.record(fmt.Sprintf("USER %v", c.User), false)
}

func (s *stageState) dispatchVolume(c *instructions.VolumeCommand) error {
	if s.cfg.Config.Volumes == nil {
		s.cfg.Config.Volumes = map[string]struct{}{}
	}
	for _, v := range c.Volumes {
		if v == "" {
			return fmt.Errorf("%w: VOLUME specified can not be an empty string", ErrParse)
		}
		s.cfg.Config.Volumes[v] = struct{}{}
	}
	s.record(fmt.Sprintf("VOLUME %v", c.Volumes), false)
	return nil
}

func (s *stageState) dispatchStopSignal(c *instructions.StopSignalCommand) error {
	if !stopsignal.Valid(c.Signal) {
		return fmt.Errorf("%w: invalid signal: %s", ErrParse, c.Signal)
	}
	s.cfg.Config.StopSignal = c.Signal
	s.record(fmt.Sprintf("STOPSIGNAL %v", c.Signal), false)
	return nil
}

func (s *stageState) dispatchShell(c *instructions.ShellCommand) {
	s.cfg.Config.Shell = c.Shell
	s.record(fmt.Sprintf("SHELL %v", c.Shell), false)
}

// dispatchArg declares build arguments in the stage: a build argument's
// value, else the default (expanded), else the value of the same ARG
// before FROM (or a predefined one). Values are visible to the stage's
// later instructions, not written to the config.
func (s *stageState) dispatchArg(c *instructions.ArgCommand) error {
	var texts []string
	for _, kv := range c.Args {
		val, hasVal := s.b.o.buildArgs[kv.Key]
		switch {
		case hasVal:
			kv.Value = &val
		case kv.Value != nil:
			v, _, err := s.b.p.lex.ProcessWord(*kv.Value, s.env)
			if err != nil {
				return err
			}
			kv.Value = &v
		default:
			if v, ok := s.b.global.Get(kv.Key); ok {
				kv.Value = &v
			}
		}
		text := kv.Key
		if kv.Value != nil {
			s.env.set(kv.Key, *kv.Value)
			text += "=" + *kv.Value
		}
		s.args = append(s.args, kv)
		texts = append(texts, text)
	}
	s.record("ARG "+strings.Join(texts, " "), false)
	return nil
}

// normalizeWorkdir is BuildKit's: a relative dir is joined to the current
// one ("/" when unset), the result cleaned.
func normalizeWorkdir(current, wd string) string {
	if current == "" {
		current = "/"
	}
	if wd == "" {
		return path.Clean(current)
	}
	if !path.IsAbs(wd) {
		wd = path.Join("/", current, wd)
	}
	return path.Clean(wd)
}

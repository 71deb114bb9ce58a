package image

import (
	"slices"
	"strings"
)

// setEnv replaces the first entry of key in place (dropping later ones) or
// appends key=value.
func setEnv(env []string, key, value string) []string {
	out := make([]string, 0, len(env)+1)
	done := false
	for _, e := range env {
		if k, _, _ := strings.Cut(e, "="); k == key {
			if !done {
				out = append(out, key+"="+value)
				done = true
			}
			continue
		}
		out = append(out, e)
	}
	if !done {
		out = append(out, key+"="+value)
	}
	return out
}

// unsetEnv removes every entry of key.
func unsetEnv(env []string, key string) []string {
	out := make([]string, 0, len(env))
	for _, e := range env {
		if k, _, _ := strings.Cut(e, "="); k != key {
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// lookupEnv returns the value of key in env.
func lookupEnv(env []string, key string) (string, bool) {
	for _, e := range env {
		if k, v, _ := strings.Cut(e, "="); k == key {
			return v, true
		}
	}
	return "", false
}

// editPath adds dirs to the front or back of PATH, starting from DefaultPath
// when env has no PATH, skipping directories already on it.
func editPath(env []string, dirs []string, front bool) []string {
	cur, ok := lookupEnv(env, "PATH")
	if !ok {
		cur = DefaultPath
	}
	var have []string
	if cur != "" {
		have = strings.Split(cur, ":")
	}
	var add []string
	for _, d := range dirs {
		if !slices.Contains(have, d) && !slices.Contains(add, d) {
			add = append(add, d)
		}
	}
	var next []string
	if front {
		next = append(add, have...)
	} else {
		next = append(have, add...)
	}
	return setEnv(env, "PATH", strings.Join(next, ":"))
}

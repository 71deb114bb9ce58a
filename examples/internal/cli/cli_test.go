package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/stevedore-dev/stevedore/image"
	"github.com/stevedore-dev/stevedore/registry"
	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

// When CLI_TEST_MAIN is set, the test binary is a program calling Main.
func TestMain(m *testing.M) {
	if mode := os.Getenv("CLI_TEST_MAIN"); mode != "" {
		Main("prog", func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			fs := flag.NewFlagSet("prog", flag.ContinueOnError)
			if err := Parse(fs, args, stderr); err != nil {
				return err
			}
			switch mode {
			case "ok":
				fmt.Fprintln(stdout, "x@sha256:0")
				return nil
			default:
				return errors.Join(errors.New("pushing x: refused"), errors.New("second\nthird"))
			}
		})
	}
	os.Exit(m.Run())
}

func TestMainExit(t *testing.T) {
	tests := []struct {
		mode       string
		args       []string
		code       int
		stdout     string
		stderrLine string
	}{
		{"ok", nil, 0, "x@sha256:0\n", ""},
		{"fail", nil, 1, "", "prog: pushing x: refused; second; third\n"},
		{"ok", []string{"-h"}, 0, "", ""},
		{"ok", []string{"-nope"}, 2, "", ""},
		{"ok", []string{"extra"}, 1, "", "prog: unexpected argument \"extra\": prog takes only flags (see -h)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.mode+strings.Join(tt.args, ""), func(t *testing.T) {
			cmd := exec.Command(os.Args[0], tt.args...)
			cmd.Env = append(os.Environ(), "CLI_TEST_MAIN="+tt.mode)
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.code {
				t.Errorf("exit code = %d, want %d (stderr %q)", code, tt.code, stderr.String())
			}
			if stdout.String() != tt.stdout {
				t.Errorf("stdout = %q, want %q", stdout.String(), tt.stdout)
			}
			if tt.stderrLine != "" && stderr.String() != tt.stderrLine {
				t.Errorf("stderr = %q, want %q", stderr.String(), tt.stderrLine)
			}
		})
	}
}

func TestOneLine(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{errors.New("plain"), "plain"},
		{errors.New("a\nb\r\nc\n"), "a; b; c"},
		{errors.Join(errors.New("x"), errors.New("y")), "x; y"},
	}
	for _, tt := range tests {
		if got := OneLine(tt.err); got != tt.want {
			t.Errorf("OneLine(%q) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestPublish(t *testing.T) {
	ctx := context.Background()
	img, err := image.Build(ctx, nil, image.WithCmd("/x"))
	if err != nil {
		t.Fatal(err)
	}
	idx, err := image.BuildIndex(ctx, nil, image.WithPlatforms("linux/amd64", "linux/arm64"))
	if err != nil {
		t.Fatal(err)
	}
	srv := registrytest.New(t)
	for _, a := range []image.Artifact{img, idx} {
		h, _ := a.Digest()
		ref, err := Publish(ctx, a, srv.Ref("p/q:r"), "", "")
		if want := srv.Ref("p/q") + "@" + h.String(); err != nil || ref != want {
			t.Errorf("Publish(push) = %q, %v, want %q", ref, err, want)
		}
		file := filepath.Join(t.TempDir(), "out.tar")
		ref, err = Publish(ctx, a, "", file, "latest")
		if want := file + "@" + h.String(); err != nil || ref != want {
			t.Errorf("Publish(file) = %q, %v, want %q", ref, err, want)
		}
	}
	got, err := registry.PullIndex(ctx, srv.Ref("p/q:r"))
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(got); err != nil {
		t.Errorf("validate.Index = %v", err)
	}
}

func TestWriteFiles(t *testing.T) {
	dir := t.TempDir()
	err := WriteFiles(dir, map[string]string{"a/b.txt": "b", "bin/run": "#!/bin/sh\n", "empty/": "", "link": "-> a/b.txt"})
	if err != nil {
		t.Fatalf("WriteFiles = %v", err)
	}
	for name, want := range map[string]os.FileMode{"a/b.txt": 0o644, "bin/run": 0o755, "empty": os.ModeDir | 0o755, "a": os.ModeDir | 0o755, "link": os.ModeSymlink} {
		fi, err := os.Lstat(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("Lstat(%s) = %v", name, err)
		}
		got := fi.Mode()
		if want&os.ModeSymlink != 0 {
			got &= os.ModeSymlink
		}
		if got != want {
			t.Errorf("mode of %s = %v, want %v", name, got, want)
		}
	}
	if target, _ := os.Readlink(filepath.Join(dir, "link")); target != "a/b.txt" {
		t.Errorf("link -> %q, want a/b.txt", target)
	}
}

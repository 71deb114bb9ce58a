package cli

import (
	"context"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/stevedore-dev/stevedore/image/dockerfile"
	"github.com/stevedore-dev/stevedore/registry"
)

// Resolver is the dockerfile.Resolver the examples pass: registry.Pull of
// the reference for the platform asked, with opts (by default credentials
// come from the docker config, as for docker itself).
func Resolver(opts ...registry.Option) dockerfile.Resolver {
	return func(ctx context.Context, ref string, p v1.Platform) (v1.Image, error) {
		return registry.Pull(ctx, ref, append(append([]registry.Option(nil), opts...), registry.WithPlatform(p.String()))...)
	}
}

// PushEvents returns the registry option that reports a push's progress
// to f as dockerfile events (EventPush), which a dockerfile.JSONWriter
// renders as docker push does.
func PushEvents(f func(dockerfile.Event)) registry.Option {
	return registry.WithProgress(func(p registry.Progress) {
		status := map[registry.Event]string{
			registry.EventBytes:          "Pushing",
			registry.EventSkipped:        "Layer already exists",
			registry.EventMounted:        "Mounted",
			registry.EventUploaded:       "Pushed",
			registry.EventManifest:       "Manifest",
			registry.EventManifestExists: "Manifest",
		}[p.Event]
		if status == "" {
			return
		}
		f(dockerfile.Event{Kind: dockerfile.EventPush, Push: &dockerfile.PushProgress{
			Ref: p.Ref, Digest: p.Digest, Status: status, Current: p.Done, Total: p.Total,
		}})
	})
}

package main

import "github.com/stevedore-dev/stevedore/examples/internal/cli"

// demoRequest is what the demo asks the server: the api service of the
// demo monorepo, with the repository as context.
var demoRequest = buildRequest{Context: "shop", Dockerfile: "services/api/Dockerfile", Tag: "shop/api:v1"}

// demoFiles is the demo root: one monorepo, "shop". The api service is a
// tiny Go image's release stage; content starting with "#!" is executable.
var demoFiles = map[string]string{
	"shop/.dockerignore":                  "**/*.log\n",
	"shop/services/api/Dockerfile":        "FROM scratch\nADD services/api/dist/api /\nCOPY services/api/config /etc/api/\nEXPOSE 8080\nENTRYPOINT [\"/api\"]\n",
	"shop/services/api/dist/api":          "#!/bin/sh\necho api\n",
	"shop/services/api/config/api.yaml":   "listen: :8080\n",
	"shop/services/api/debug.log":         "noise\n",
	"shop/services/web/Dockerfile":        "FROM scratch\nCOPY services/web/public /srv/\n",
	"shop/services/web/public/index.html": "<h1>shop</h1>\n",
}

// writeDemo writes the demo root in dir.
func writeDemo(dir string) error { return cli.WriteFiles(dir, demoFiles) }

// Package console serves the Cloud Gate's web console: static assets,
// embedded in the binary, that talk to the management API.
package console

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed assets
var assets embed.FS

// Handler serves the console; mount it under /console/.
func Handler() http.Handler {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return http.StripPrefix("/console/", http.FileServer(http.FS(sub)))
}

// Package web holds the registry-stack web UI: plain HTML, CSS and
// JavaScript modules with no build step, embedded into the binary.
package web

import (
	"embed"
	"io/fs"
)

//go:embed static
var static embed.FS

// Static returns the UI's files rooted at the static directory, so
// "index.html" and "js/main.js" are top-level names.
func Static() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		// fs.Sub fails only for an invalid name; "static" is a constant.
		panic(err)
	}
	return sub
}

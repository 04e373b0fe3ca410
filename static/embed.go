// Package static holds keyport's CSS, icons and its one script (once.js,
// which keeps a form from being submitted twice), embedded in the binary so
// a deployment is one file.
package static

import "embed"

// Files are the static assets, served under /static/.
//
//go:embed css img js
var Files embed.FS

// Package static holds keyport's CSS and icons, embedded in the binary so a
// deployment is one file.
package static

import "embed"

// Files are the static assets, served under /static/.
//
//go:embed css img
var Files embed.FS

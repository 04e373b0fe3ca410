// Package views holds keyport's templ pages, partials and email bodies. Views
// take their own small structs, never database models, so a template cannot
// reach a field it was not meant to show.
package views

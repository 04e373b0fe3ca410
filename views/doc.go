// Package views holds keyport's templ components: the layout and page
// chrome, every page and partial, the email bodies (invitations, notices
// about keys), and all the wording a page shows, such as what a key's
// status means (StatusOf) and what a drift reconciliation does
// (DriftActions).
//
// Each component takes its own small struct, declared in the hand-written
// Go file beside its .templ (keys.templ's types in keys.go, the shared
// ones in layout.go, common.go and health.go), or plain parameters; never
// a database model, so a template cannot reach a field it was not meant to
// show. Generated *_templ.go files are committed; run `go tool templ
// generate` after editing a .templ file.
//
// views imports nothing of keyport, only the standard library and templ:
// handlers fill the structs, and values owned by keysvc or models (health,
// drift fields, notice kinds) arrive as plain strings and numbers.
package views

//go:build race

package web_test

// raceEnabled: the race detector is on. Tests that walk every route
// sequentially (the authorization matrix) run once without it, from their
// own make test step: they exercise permissions, not concurrency, and the
// detector makes them several times slower.
const raceEnabled = true

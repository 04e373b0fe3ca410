package views

// HealthCount is how many keys have one status (StatusOf), with what it
// means.
type HealthCount struct {
	Health string // the status code
	Label  string
	Advice string
	Count  int
	OK     bool
	Tone   string // ok, warn, bad, muted
}

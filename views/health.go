package views

// HealthCount is how many keys have one health, with what it means.
type HealthCount struct {
	Health string
	Label  string
	Advice string
	Count  int
	OK     bool
}

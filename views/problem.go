package views

// Problem is a page that explains why something was refused or failed,
// with only words that are safe to show.
type Problem struct {
	Status    int
	Heading   string
	Message   string
	RequestID string
	Action    *Link // the one next step, if there is one
}

package views

// SignIn is the sign-in page.
type SignIn struct {
	ReturnTo string
	Dev      bool
}

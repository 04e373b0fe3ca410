package views

import "strconv"

// pluralize writes "1 member" or "3 members".
func pluralize(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

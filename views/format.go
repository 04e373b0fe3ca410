package views

import (
	"maps"
	"slices"
	"strconv"
	"strings"
)

// pluralize writes "1 member" or "3 members".
func pluralize(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// DetailsText writes an audit event's details as "k=v; k=v", keys sorted:
// map order is random, and a page or file must read the same every time.
func DetailsText(m map[string]string) string {
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, "; ")
}

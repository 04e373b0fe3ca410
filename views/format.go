package views

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
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

// PlainDuration writes a cache lifetime or similar span in words: "5
// minutes", "1 hour", "90 seconds".
func PlainDuration(d time.Duration) string {
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return pluralize(int(d/time.Hour), "hour", "hours")
	case d >= time.Minute && d%time.Minute == 0:
		return pluralize(int(d/time.Minute), "minute", "minutes")
	}
	return pluralize(int(d.Round(time.Second)/time.Second), "second", "seconds")
}

package views

import (
	"net/url"
	"strconv"
	"time"
)

// KeyListNav is the search, sort and paging state of the keys list.
type KeyListNav struct {
	Query string // the search as typed
	Sort  string // name, status, next_rotation or last_used
	Desc  bool
	Page  int
	Pages int
	Total int64 // keys matching the search
	// Any is false when the tenant has no key at all (the empty state, as
	// opposed to a search that matches nothing).
	Any bool
}

// keySortColumns are the keys list's sortable columns, in table order.
var keySortColumns = map[string]string{"name": "Name", "status": "Status", "next_rotation": "Next rotation", "last_used": "Last used"}

// Href is the keys list at page with the same search and sort.
func (n KeyListNav) Href(page int) string {
	return n.link(n.Sort, n.Desc, page)
}

// SortHref is the keys list sorted by col: ascending, or descending when
// it is already sorted ascending by col. Sorting starts at page 1.
func (n KeyListNav) SortHref(col string) string {
	return n.link(col, n.Sort == col && !n.Desc, 1)
}

// AriaSort says how the column col is sorted, for screen readers.
func (n KeyListNav) AriaSort(col string) string {
	switch {
	case n.Sort != col:
		return "none"
	case n.Desc:
		return "descending"
	}
	return "ascending"
}

// SortLabel names col's sort link with where it goes.
func (n KeyListNav) SortLabel(col string) string {
	arrow := ""
	if n.Sort == col {
		arrow = " ↑"
		if n.Desc {
			arrow = " ↓"
		}
	}
	return keySortColumns[col] + arrow
}

func (n KeyListNav) link(sort string, desc bool, page int) string {
	v := url.Values{}
	if n.Query != "" {
		v.Set("q", n.Query)
	}
	if sort != "" && sort != "name" {
		v.Set("sort", sort)
	}
	if desc {
		v.Set("dir", "desc")
	}
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	if len(v) == 0 {
		return "/keys"
	}
	return "/keys?" + v.Encode()
}

// listDate shows a date of the keys list (a dash for none).
func listDate(t *time.Time) string {
	if t == nil {
		return orDash("")
	}
	return t.UTC().Format("2006-01-02")
}

// listTime shows a time of the keys list ("never" for none).
func listTime(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04")
}

// KindLabel names a key's kind (models' mode) in lists: who made its
// material and where it lives.
func KindLabel(mode string, held bool) string {
	switch mode {
	case "cmk":
		return "Registered"
	case "generated":
		if held {
			return "Generated, held"
		}
		return "Generated"
	case "imported":
		return "Imported"
	}
	return mode
}

// kindTitle explains a kind label on hover and to screen readers.
func kindTitle(kind string) string {
	switch kind {
	case "Registered":
		return "Your KMS key, registered by its ARN"
	case "Generated":
		return "keyport-generated material imported into your KMS key"
	case "Generated, held":
		return "keyport-generated material that keyport holds; nothing in KMS"
	case "Imported":
		return "Your own material, imported through keyport"
	}
	return ""
}

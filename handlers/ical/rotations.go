package ical

import (
	"strconv"
	"strings"
	"time"

	"keyport/keysvc/rotation"
	"keyport/models"
)

// Rotations is the calendar of a tenant's rotations: one event per key at
// its next rotation, lasting its rotation window, with a reminder at each
// notice lead time. baseURL is keyport's public URL; its host makes the
// events' UIDs and each event links to the key's rotation page.
func Rotations(tenantName, baseURL string, now time.Time, rows []models.UpcomingRotation) Calendar {
	host := "keyport"
	if i := strings.Index(baseURL, "://"); i >= 0 {
		host = strings.SplitN(baseURL[i+3:], "/", 2)[0]
	}
	c := Calendar{Name: "keyport rotations: " + tenantName, Stamp: now, Events: make([]Event, 0, len(rows))}
	for _, r := range rows {
		start := r.NextRotationAt.UTC()
		hours := r.WindowHours
		if hours <= 0 || hours > 24 {
			hours = 1
		}
		how := "automatic"
		if !r.Automatic {
			how = "needs confirmation"
		}
		e := Event{UID: "rotation-" + r.KeyID + "-" + start.Format(utcStamp) + "@" + host,
			Start: start, End: start.Add(time.Duration(hours) * time.Hour),
			Summary:     "Key rotation: " + r.KeyName + " (" + how + ")",
			Description: "keyport rotates the key " + r.KeyName + " of " + tenantName + " (every " + dayCount(r.PeriodDays) + ").",
			URL:         baseURL + "/keys/" + r.KeyID + "/rotation"}
		for _, d := range rotation.ParseNoticeList(r.NoticeDays) {
			e.Alarms = append(e.Alarms, Alarm{DaysBefore: d, Description: "Key " + r.KeyName + " rotates in " + dayCount(d)})
		}
		c.Events = append(c.Events, e)
	}
	return c
}

// dayCount is "1 day" or "n days".
func dayCount(n int) string {
	if n == 1 {
		return "1 day"
	}
	return strconv.Itoa(n) + " days"
}

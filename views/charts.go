package views

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// UsagePoint is the use counted in one hour or one UTC day.
type UsagePoint struct {
	Start     time.Time
	Encrypts  int64
	Decrypts  int64
	Datakeys  int64
	CacheHits int64
	KMSCalls  int64
}

// UsageChartsInput is what the usage charts show: a key's or a tenant's
// hourly and daily use, and the KMS requests the cache saved with their
// estimated cost at the provider's price.
type UsageChartsInput struct {
	Scope                   string // "key" or "tenant": names the section and its ids
	Hourly, Daily           []UsagePoint
	SavedHourly, SavedDaily int64
	PricePer10k             float64
}

// UsageCharts is the usage section of the key page or the dashboard.
type UsageCharts struct {
	Scope   string
	Heading string
	Empty   bool
	Charts  []UsageChart
	Savings []UsageSaving
	Price   string // "$0.03"
}

// UsageSaving is the KMS requests the cache saved in one span.
type UsageSaving struct {
	Span     string // "last 48 hours"
	Requests string
	Cost     string
}

// UsageChart is one server-drawn line chart and its table.
type UsageChart struct {
	ID      string // element id prefix, unique on the page
	Title   string
	Desc    string // a sentence for screen readers
	XTitle  string
	YTitle  string
	Summary string // the table's <summary>
	Rows    []UsageTableRow
	Lines   []ChartLine
	YTicks  []ChartTick
	XTicks  []ChartTick
	Legend  []ChartLine // with X set for the legend's place
}

// UsageTableRow is one row of a chart's table.
type UsageTableRow struct {
	Period   string // "2006-01-02T15" or "2006-01-02", as stored
	Datetime string // for <time datetime>
	Label    string
	Values   [5]string
}

// ChartLine is one series: its name, how it is drawn and its points.
type ChartLine struct {
	Name   string
	Color  string
	Dash   string
	Points string // "x,y x,y ..." in the viewBox
	X      float64
}

// ChartTick is an axis label at a place in the viewBox.
type ChartTick struct {
	At     float64
	Label  string
	Anchor string // the x-axis label's text-anchor: the last one ends at its tick, to stay inside the chart
}

// usageSeries names the counted things, in the tables' column order. The
// colours pass 4.5:1 on white; the dashes tell the lines apart without them.
var usageSeries = [5]struct{ name, color, dash string }{
	{"Encrypts", "#1f5fbf", ""},
	{"Decrypts", "#1d7a46", "8 4"},
	{"Data keys", "#8a5a00", "2 3"},
	{"Cache hits", "#6b3fa0", "10 3 2 3"},
	{"KMS calls", "#b3261e", "4 4"},
}

// UsageSeriesNames are the tables' column headings after the period.
func UsageSeriesNames() []string {
	out := make([]string, len(usageSeries))
	for i, s := range usageSeries {
		out[i] = s.name
	}
	return out
}

// The chart's viewBox and plot area.
const (
	chartW, chartH           = 760.0, 290.0
	plotL, plotR             = 64.0, 744.0
	plotT, plotB             = 40.0, 236.0
	chartLegendY, chartXAxis = 16.0, 256.0
)

// ChartViewBox is the viewBox of every usage chart.
func ChartViewBox() string { return fmt.Sprintf("0 0 %g %g", chartW, chartH) }

// NewUsageCharts lays out the hourly and daily charts of in.
func NewUsageCharts(in UsageChartsInput) UsageCharts {
	c := UsageCharts{Scope: in.Scope, Heading: "Use over time", Price: usd(in.PricePer10k, true)}
	if in.Scope == "tenant" {
		c.Heading = "Use of all keys over time"
	}
	c.Empty = true
	for _, p := range in.Daily {
		if p.Encrypts+p.Decrypts+p.Datakeys+p.CacheHits+p.KMSCalls > 0 {
			c.Empty = false
			break
		}
	}
	c.Charts = []UsageChart{
		newUsageChart(in.Scope+"-hourly", fmt.Sprintf("Use per hour, last %d hours", len(in.Hourly)), "Hour (UTC)", "Requests per hour",
			"Hourly counts as a table", in.Hourly, true),
		newUsageChart(in.Scope+"-daily", fmt.Sprintf("Use per day, last %d days", len(in.Daily)), "Day (UTC)", "Requests per day",
			"Daily counts as a table", in.Daily, false),
	}
	cost := func(n int64) string { return usd(float64(n)*in.PricePer10k/10000, false) }
	c.Savings = []UsageSaving{
		{Span: fmt.Sprintf("last %d hours", len(in.Hourly)), Requests: thousands(in.SavedHourly), Cost: cost(in.SavedHourly)},
		{Span: fmt.Sprintf("last %d days", len(in.Daily)), Requests: thousands(in.SavedDaily), Cost: cost(in.SavedDaily)},
	}
	return c
}

func newUsageChart(id, title, xTitle, yTitle, summary string, pts []UsagePoint, hourly bool) UsageChart {
	ch := UsageChart{ID: "usage-" + id, Title: title, XTitle: xTitle, YTitle: yTitle, Summary: summary}
	var max int64
	var totals [5]int64
	for _, p := range pts {
		vs := pointValues(p)
		row := UsageTableRow{}
		if hourly {
			row.Period, row.Datetime, row.Label = p.Start.UTC().Format("2006-01-02T15"), p.Start.UTC().Format(time.RFC3339), p.Start.UTC().Format("Jan 2 15:00")
		} else {
			row.Period, row.Datetime, row.Label = p.Start.UTC().Format("2006-01-02"), p.Start.UTC().Format("2006-01-02"), p.Start.UTC().Format("Mon Jan 2")
		}
		for i, v := range vs {
			row.Values[i] = thousands(v)
			totals[i] += v
			if v > max {
				max = v
			}
		}
		ch.Rows = append(ch.Rows, row)
	}
	parts := make([]string, len(usageSeries))
	for i, s := range usageSeries {
		parts[i] = thousands(totals[i]) + " " + strings.ToLower(s.name)
	}
	ch.Desc = title + ", in total: " + strings.Join(parts, ", ") + ". The table below the chart has every value."

	step := niceStep(max)
	top := float64(step * 4)
	for i := 0; i <= 4; i++ {
		ch.YTicks = append(ch.YTicks, ChartTick{At: plotB - float64(i)/4*(plotB-plotT), Label: thousands(step * int64(i))})
	}
	x := func(i int) float64 {
		if len(pts) < 2 {
			return plotL
		}
		return plotL + float64(i)*(plotR-plotL)/float64(len(pts)-1)
	}
	every := 15
	if hourly {
		every = 12
	}
	for i, p := range pts {
		if (len(pts)-1-i)%every != 0 {
			continue
		}
		label := p.Start.UTC().Format("Jan 2")
		if hourly {
			label = p.Start.UTC().Format("Jan 2 15:00")
		}
		anchor := "middle"
		if i == len(pts)-1 {
			anchor = "end"
		}
		ch.XTicks = append(ch.XTicks, ChartTick{At: x(i), Label: label, Anchor: anchor})
	}
	for si, s := range usageSeries {
		var b strings.Builder
		for i, p := range pts {
			if i > 0 {
				b.WriteByte(' ')
			}
			v := pointValues(p)[si]
			fmt.Fprintf(&b, "%.1f,%.1f", x(i), plotB-float64(v)/top*(plotB-plotT))
		}
		line := ChartLine{Name: s.name, Color: s.color, Dash: s.dash, Points: b.String(), X: plotL + float64(si)*136}
		ch.Lines = append(ch.Lines, line)
	}
	ch.Legend = ch.Lines
	return ch
}

func pointValues(p UsagePoint) [5]int64 {
	return [5]int64{p.Encrypts, p.Decrypts, p.Datakeys, p.CacheHits, p.KMSCalls}
}

// niceStep is the y-axis step for four steps up to at least max: 1, 2 or 5
// times a power of ten, so that every tick is a whole number.
func niceStep(max int64) int64 {
	need := (max + 3) / 4
	if need < 1 {
		return 1
	}
	for p := int64(1); ; p *= 10 {
		for _, m := range []int64{1, 2, 5} {
			if m*p >= need {
				return m * p
			}
		}
	}
}

// thousands writes n with commas: 12,345.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// usd writes an amount of US dollars: cents for costs ("less than $0.01"
// when a cost rounds to nothing), every digit given for a price.
func usd(v float64, price bool) string {
	if price {
		s := strconv.FormatFloat(v, 'f', -1, 64)
		if i := strings.IndexByte(s, '.'); i < 0 {
			s += ".00"
		} else if len(s)-i == 2 {
			s += "0"
		}
		return "$" + s
	}
	switch {
	case v == 0:
		return "$0.00"
	case v < 0.005:
		return "less than $0.01"
	}
	return "$" + strconv.FormatFloat(v, 'f', 2, 64)
}

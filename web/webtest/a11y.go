package webtest

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/chromedp/chromedp"
)

// axeSource is axe-core (MPL-2.0, see axe/README.md), injected into pages
// under test only; keyport never serves it.
//
//go:embed axe/axe.min.js
var axeSource string

// A11yRules are the axe-core rules CheckA11y runs beyond the WCAG 2.x A and
// AA rules: landmarks, one h1, headings in order, content inside landmarks.
var A11yRules = []string{
	"landmark-one-main", "landmark-no-duplicate-main", "landmark-no-duplicate-banner", "landmark-unique",
	"page-has-heading-one", "heading-order", "region", "empty-heading", "empty-table-header",
}

// A11yViolation is one accessibility failure on a page: the rule, what it
// asks for and the element that breaks it.
type A11yViolation struct {
	Rule    string `json:"rule"`
	Impact  string `json:"impact"`
	Help    string `json:"help"`
	Target  string `json:"target"`
	Summary string `json:"summary"`
}

func (v A11yViolation) String() string {
	s := fmt.Sprintf("%s (%s): %s at %s", v.Rule, v.Impact, v.Help, v.Target)
	if v.Summary != "" {
		s += ": " + strings.ReplaceAll(v.Summary, "\n", " ")
	}
	return s
}

// a11yScript runs axe-core on the document, then keyport's own structural
// checks that axe leaves to best practice: a banner or navigation landmark,
// exactly one h1 and one main. It resolves to a JSON list of violations.
const a11yScript = `(async () => {
  const rules = %s;
  const res = await axe.run(document, {
    runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']},
    rules: Object.fromEntries(rules.map(r => [r, {enabled: true}])),
    resultTypes: ['violations'],
  });
  const out = [];
  for (const v of res.violations) {
    for (const n of v.nodes) {
      out.push({rule: v.id, impact: v.impact || '', help: v.help, target: n.target.join(' '), summary: n.failureSummary || ''});
    }
  }
  const landmarks = [...document.querySelectorAll('header, nav, [role=banner], [role=navigation]')]
    .filter(e => !e.closest('main, article, aside, section'));
  if (landmarks.length === 0) {
    out.push({rule: 'keyport-banner', impact: 'moderate', help: 'The page has a banner or navigation landmark', target: 'body', summary: ''});
  }
  const h1 = document.querySelectorAll('h1').length, main = document.querySelectorAll('main, [role=main]').length;
  if (h1 !== 1) {
    out.push({rule: 'keyport-one-h1', impact: 'moderate', help: 'The page has exactly one h1 (it has ' + h1 + ')', target: 'body', summary: ''});
  }
  if (main !== 1) {
    out.push({rule: 'keyport-one-main', impact: 'moderate', help: 'The page has exactly one main landmark (it has ' + main + ')', target: 'body', summary: ''});
  }
  return JSON.stringify(out);
})()`

// CheckA11y opens every <details> of the page the tab shows, injects
// axe-core into it and returns every accessibility violation on it: each
// field labelled, buttons, links and images named, landmarks, headings in order and one h1, text contrast of
// at least 4.5:1 (3:1 for large text), and the rest of WCAG 2.x A and AA
// that axe checks automatically.
func CheckA11y(ctx context.Context) ([]A11yViolation, error) {
	// Runtime.evaluate is not subject to the page's CSP, so axe runs under
	// keyport's real policy without loosening it.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](`if (!window.axe) { `+axeSource+"\n}; true")); err != nil {
		return nil, fmt.Errorf("inject axe-core: %w", err)
	}
	// Folded content (an audit event's details, an advanced section) is
	// checked unfolded: axe skips what is hidden.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('details:not([open])').forEach(d => d.open = true); 0`)); err != nil {
		return nil, fmt.Errorf("open details: %w", err)
	}
	rules, _ := json.Marshal(A11yRules)
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(a11yScript, rules), chromedp.EvalAwaitPromise))
	if err != nil {
		return nil, fmt.Errorf("run axe-core: %w", err)
	}
	var out []A11yViolation
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		return nil, fmt.Errorf("read axe-core's answer: %w", err)
	}
	return out, nil
}

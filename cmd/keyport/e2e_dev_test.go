package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/chromedp/chromedp"

	"keyport/web/webtest"
)

// demoLines are the lines `keyport dev` prints for its demo AWS account
// and identity provider, with the form each value must have.
var demoLines = map[string]*regexp.Regexp{
	"demo aws_access_key_id=":     regexp.MustCompile(`^` + devDemoAKID + `$`),
	"demo aws_secret_access_key=": regexp.MustCompile(`^` + regexp.QuoteMeta(devDemoSecret) + `$`),
	"demo key_arn=":               regexp.MustCompile(`^arn:aws:kms:us-east-1:111122223333:key/[0-9a-f-]{36}$`),
	"demo role_arn=":              regexp.MustCompile(`^` + regexp.QuoteMeta(devRoleARN) + `$`),
	"demo kms_endpoint=":          regexp.MustCompile(`^http://127\.0\.0\.1:[0-9]+$`),
	"demo oidc_issuer=":           regexp.MustCompile(`^http://127\.0\.0\.1:[0-9]+/oidc$`),
}

// TestBrowserDevRestartKeepsIssuer: `keyport dev` prints the demo lines,
// which work (the AWS SDK reaches the demo key with them; the issuer
// serves its discovery document); a tenant made by `keyport tenant create`
// becomes its bound owner's at their first sign-in through the browser, a
// colleague is pointed at it; and after a restart on the same data
// directory the issuer is the same, so the owner is the same user in the
// same tenant.
func TestBrowserDevRestartKeepsIssuer(t *testing.T) {
	browser := webtest.Browser(t, 150*time.Second)
	ctx := context.Background()
	dir := t.TempDir()
	cmdEnv := envOf(map[string]string{"KEYPORT_DEV": "true", "KEYPORT_DATA_DIR": dir})
	var out bytes.Buffer
	if err := run(ctx, []string{"tenant", "create", "--name", "Acme Corp", "--owner", "amy@acme.test"}, cmdEnv, &out); err != nil {
		t.Fatal(err)
	}
	tenant := strings.TrimSpace(out.String())

	lines, stop := runDev(t, map[string]string{"KEYPORT_DATA_DIR": dir})
	for name, re := range demoLines {
		if !re.MatchString(lines[name]) {
			t.Errorf("%s%q: want %s", name, lines[name], re)
		}
	}
	issuer := lines["demo oidc_issuer="]
	client := kms.NewFromConfig(aws.Config{Region: devRegion, BaseEndpoint: aws.String(lines["demo kms_endpoint="]),
		Credentials: credentials.NewStaticCredentialsProvider(lines["demo aws_access_key_id="], lines["demo aws_secret_access_key="], "")})
	if d, err := client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(lines["demo key_arn="])}); err != nil || !d.KeyMetadata.Enabled {
		t.Errorf("the demo key through the demo lines: %v", err)
	}
	checkIssuer(t, issuer)

	signInAs := func(email string) webtest.Page {
		p := webtest.Page{T: t, Ctx: newPerson(t, browser), Prefix: "devrestart-"}
		p.Step("sign in as "+email, then(signIn(lines[runningAt], email, ""),
			actions{chromedp.WaitVisible(chromedp.CSS(`[data-testid="dashboard"], [data-testid="problem"]`))})...)
		return p
	}
	p := signInAs("amy@acme.test")
	if got := p.Text(`[data-testid="tenant-name"]`); got != "Acme Corp" {
		t.Fatalf("the bound owner landed in %q", got)
	}
	p = signInAs("ben@acme.test")
	if msg := p.Text(`[data-testid="problem"]`); !strings.Contains(msg, "Acme Corp") || !strings.Contains(msg, tenant) ||
		!strings.Contains(msg, "amy@acme.test") || !strings.Contains(msg, "invite ben@acme.test") {
		t.Errorf("a colleague's first sign-in shows:\n%s", msg)
	}

	stop()
	lines, _ = runDev(t, map[string]string{"KEYPORT_DATA_DIR": dir})
	if lines["demo oidc_issuer="] != issuer {
		t.Errorf("issuer after a restart = %s, was %s", lines["demo oidc_issuer="], issuer)
	}
	checkIssuer(t, issuer)
	p = signInAs("amy@acme.test")
	if got := p.Text(`[data-testid="tenant-name"]`); got != "Acme Corp" {
		t.Errorf("after a restart the owner landed in %q", got)
	}

	db := openDevStore(t, cmdEnv)
	defer db.Close()
	if users, err := db.UsersWithEmail(ctx, issuer, "amy@acme.test"); err != nil || len(users) != 1 {
		t.Errorf("amy is %d users, %v", len(users), err)
	}
	out.Reset()
	if err := run(ctx, []string{"tenant", "list"}, cmdEnv, &out); err != nil || strings.Count(out.String(), "\n") != 2 ||
		!strings.Contains(out.String(), tenant+"  Acme Corp  amy@acme.test") {
		t.Errorf("tenant list: %v\n%s", err, out.String())
	}
}

// checkIssuer fetches the issuer's discovery document, which must name it.
func checkIssuer(t *testing.T, issuer string) {
	t.Helper()
	res, err := http.Get(issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	defer res.Body.Close()
	var doc struct{ Issuer string }
	if err := json.NewDecoder(res.Body).Decode(&doc); err != nil || doc.Issuer != issuer {
		t.Errorf("discovery names %q (%v), want %s", doc.Issuer, err, issuer)
	}
}

package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"text/tabwriter"
)

const usageText = `kpctl: keyport's command-line client (the management API, with a tenant API key)

Usage:
  kpctl [--url URL] [--api-key KEY] [-o table|json] <resource> <verb> [arguments] [flags]
  kpctl [--url URL] [--api-key KEY] plan -f keyport.yaml
  kpctl [--url URL] [--api-key KEY] apply -f keyport.yaml

Global flags (also from the environment):
  --url URL        keyport's address (KEYPORT_URL; default http://127.0.0.1:8080)
  --api-key KEY    a tenant API key, kpa_... (KEYPORT_API_KEY)
  -o table|json    human table (default) or the API's JSON

Resources and verbs:
  connections  list | get ID | create --name N (--access-key-id ID --secret-env VAR | --role-arn ARN) [--account-id A] [--region R]
               | update ID [--name N] [--access-key-id ID --secret-env VAR | --role-arn ARN] | test ID | delete ID
  keys         list [--q TEXT] | get ID | register --name N --connection ID --arn ARN [--arn ARN ...] [--encrypted-data-key B64]
               | update ID [--name N] [--min-decryption-version V] | validate ID | versions ID
               | rotate ID | deactivate ID | activate ID | renew ID | undo ID | rotate-material ID | delete ID [--window-days D]
  stores       list | get ID | create --name N --connection ID --region R | delete ID
  members      list
  invitations  list | create --email E --role admin|auditor
  audit        list [--action A] | verify
  api-keys     list | create --name N --role admin|auditor [--expires-in-days D] | revoke ID
  webhooks     list | get ID | delete ID | test ID

Secrets (IAM secret access keys) are read from the environment variable
named by --secret-env, never from the command line.

Exit codes: 0 done (plan: nothing to change), 1 the API refused the request,
2 bad usage or file, 3 API key missing, invalid or not allowed, 4 not found,
5 keyport failed or could not be reached, 6 plan found changes to apply.
`

// Run runs kpctl with args and returns its exit code.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	err := run(ctx, args, getenv, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	var pending changesPending
	if errors.As(err, &pending) {
		return ExitChanges
	}
	if err != nil {
		fmt.Fprintln(stderr, "kpctl:", err)
		var ae *apiError
		if errors.As(err, &ae) {
			for _, c := range ae.Checks {
				mark := "ok  "
				if !c.OK {
					mark = "FAIL"
				}
				fmt.Fprintf(stderr, "  %s %s: %s\n", mark, c.Name, c.Message)
			}
		}
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintln(stderr, "Run `kpctl help` for usage.")
		}
	}
	return exitCode(err)
}

// changesPending is plan's outcome when the file differs from keyport.
type changesPending struct{ n int }

func (c changesPending) Error() string { return fmt.Sprintf("%d changes to apply", c.n) }

// cmd is one invocation: the client, the output format and the writer.
type cmd struct {
	c      *client
	json   bool
	out    io.Writer
	getenv func(string) string
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	g := flag.NewFlagSet("kpctl", flag.ContinueOnError)
	g.SetOutput(io.Discard)
	baseURL := g.String("url", "", "")
	key := g.String("api-key", "", "")
	format := g.String("o", "table", "")
	if err := g.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usageText)
			return flag.ErrHelp
		}
		return usagef("%v", err)
	}
	rest := g.Args()
	if len(rest) == 0 || rest[0] == "help" || rest[0] == "--help" || rest[0] == "-h" {
		fmt.Fprint(stdout, usageText)
		if len(rest) == 0 {
			return usagef("name a resource and a verb")
		}
		return flag.ErrHelp
	}
	for _, a := range rest[1:] {
		if a == "--help" || a == "-h" {
			fmt.Fprint(stdout, usageText)
			return flag.ErrHelp
		}
	}
	if *baseURL == "" {
		*baseURL = getenv("KEYPORT_URL")
	}
	if *baseURL == "" {
		*baseURL = "http://127.0.0.1:8080"
	}
	if *key == "" {
		*key = getenv("KEYPORT_API_KEY")
	}
	if *format != "table" && *format != "json" {
		return usagef("-o must be table or json")
	}
	c, err := newClient(*baseURL, *key)
	if err != nil {
		return err
	}
	x := &cmd{c: c, json: *format == "json", out: stdout, getenv: getenv}
	switch rest[0] {
	case "plan", "apply":
		return x.declare(ctx, rest[0] == "apply", rest[1:])
	}
	if len(rest) < 2 {
		return usagef("%s: name a verb", rest[0])
	}
	res, ok := resources[rest[0]]
	if !ok {
		return usagef("unknown resource %q", rest[0])
	}
	v, ok := res.verbs[rest[1]]
	if !ok {
		var names []string
		for n := range res.verbs {
			names = append(names, n)
		}
		sort.Strings(names)
		return usagef("%s has no verb %q (it has %s)", rest[0], rest[1], strings.Join(names, ", "))
	}
	return v(ctx, x, res, rest[2:])
}

// resource is one kind of thing the API manages.
type resource struct {
	path    string   // "/connections"
	columns []string // the table's columns: JSON field names
	verbs   map[string]verbFunc
}

type verbFunc func(ctx context.Context, x *cmd, r resource, args []string) error

// flags parses a verb's flags; positional arguments may come before or
// after them. want is the number of positional arguments.
func flags(args []string, want int, define func(fs *flag.FlagSet)) ([]string, error) {
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if define != nil {
		define(fs)
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usagef("%v", err)
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if len(pos) != want {
		if want == 1 {
			return nil, usagef("give the id (one argument)")
		}
		return nil, usagef("unexpected arguments: %s", strings.Join(pos, " "))
	}
	return pos, nil
}

// multi is a repeatable string flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func listVerb(query ...string) verbFunc {
	return func(ctx context.Context, x *cmd, r resource, args []string) error {
		vals := make([]*string, len(query))
		if _, err := flags(args, 0, func(fs *flag.FlagSet) {
			for i, q := range query {
				vals[i] = fs.String(q, "", "")
			}
		}); err != nil {
			return err
		}
		q := url.Values{}
		for i, name := range query {
			if *vals[i] != "" {
				q.Set(name, *vals[i])
			}
		}
		p := r.path
		if len(q) > 0 {
			p += "?" + q.Encode()
		}
		items, err := x.c.list(ctx, p)
		if err != nil {
			return err
		}
		return x.print(items, r.columns)
	}
}

func getVerb(ctx context.Context, x *cmd, r resource, args []string) error {
	pos, err := flags(args, 1, nil)
	if err != nil {
		return err
	}
	var obj map[string]any
	if err := x.c.do(ctx, http.MethodGet, r.path+"/"+url.PathEscape(pos[0]), nil, &obj); err != nil {
		return err
	}
	return x.printOne(obj, r.columns)
}

func deleteVerb(query ...string) verbFunc {
	return func(ctx context.Context, x *cmd, r resource, args []string) error {
		vals := make([]*string, len(query))
		pos, err := flags(args, 1, func(fs *flag.FlagSet) {
			for i, q := range query {
				vals[i] = fs.String(strings.ReplaceAll(q, "_", "-"), "", "")
			}
		})
		if err != nil {
			return err
		}
		q := url.Values{}
		for i, name := range query {
			if *vals[i] != "" {
				q.Set(name, *vals[i])
			}
		}
		p := r.path + "/" + url.PathEscape(pos[0])
		if len(q) > 0 {
			p += "?" + q.Encode()
		}
		var obj map[string]any
		if err := x.c.do(ctx, http.MethodDelete, p, nil, &obj); err != nil {
			return err
		}
		return x.done(obj, pos[0]+" deleted")
	}
}

// postVerb POSTs to r.path/ID/action with no body and prints the answer.
func postVerb(action string, columns ...string) verbFunc {
	return func(ctx context.Context, x *cmd, r resource, args []string) error {
		pos, err := flags(args, 1, nil)
		if err != nil {
			return err
		}
		var obj map[string]any
		if err := x.c.do(ctx, http.MethodPost, r.path+"/"+url.PathEscape(pos[0])+"/"+action, nil, &obj); err != nil {
			return err
		}
		if columns == nil {
			columns = keysOf(obj)
		}
		return x.printOne(obj, columns)
	}
}

// done prints a mutation's answer: its JSON, or a line for people.
func (x *cmd) done(obj map[string]any, line string) error {
	if x.json {
		return json.NewEncoder(x.out).Encode(obj)
	}
	_, err := fmt.Fprintln(x.out, line)
	return err
}

// printOne writes one object as a one-row table, or as JSON.
func (x *cmd) printOne(obj map[string]any, columns []string) error {
	if x.json {
		enc := json.NewEncoder(x.out)
		enc.SetIndent("", "  ")
		return enc.Encode(obj)
	}
	return x.print([]map[string]any{obj}, columns)
}

// print writes items as a table of columns, or as a JSON list.
func (x *cmd) print(items []map[string]any, columns []string) error {
	if x.json {
		enc := json.NewEncoder(x.out)
		enc.SetIndent("", "  ")
		if items == nil {
			items = []map[string]any{}
		}
		return enc.Encode(items)
	}
	tw := tabwriter.NewWriter(x.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.ToUpper(strings.Join(columns, "\t")))
	for _, it := range items {
		cells := make([]string, len(columns))
		for i, c := range columns {
			cells[i] = cell(it[c])
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// cell renders one value for a table.
func cell(v any) string {
	switch t := v.(type) {
	case nil:
		return "-"
	case string:
		if t == "" {
			return "-"
		}
		return t
	case float64:
		return fmt.Sprintf("%v", t)
	case []any:
		var parts []string
		for _, e := range t {
			if m, ok := e.(map[string]any); ok {
				parts = append(parts, cell(m["region"]))
				continue
			}
			parts = append(parts, cell(e))
		}
		return strings.Join(parts, ",")
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func keysOf(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func newIdempotencyKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "kpctl-" + hex.EncodeToString(b)
}

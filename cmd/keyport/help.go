package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// commandUsage is the usage of every command and subcommand, by its words.
// `keyport help WORDS`, `keyport WORDS --help` and `-h` print it before
// anything reads the configuration, so they work on a machine with no
// KEYPORT_* variables, data directory or database. A new command adds its
// entry here (TestHelpForEveryCommand walks this table).
var commandUsage = map[string]string{
	"apikey":        apikeyUsage,
	"apikey create": apikeyCreateUsage,
	"serve": `usage: keyport serve

Runs the server with the production configuration, read from KEYPORT_*
environment variables (README.md, "Configuration"). Also what keyport does
with no command.
`,
	"dev": `usage: keyport dev

Runs keyport with local stand-ins (what make run does): a SQLite database, a
KEK file and kmslocal's state in KEYPORT_DATA_DIR (default ./data), a
development identity provider, a mail catcher at /dev/mail and a local KMS
with a demo AWS account. Listens on loopback only (KEYPORT_ADDR, default
127.0.0.1:8080). Before "keyport is running at URL" it prints one line each:

  demo aws_access_key_id=...     demo aws_secret_access_key=...
  demo key_arn=...               demo role_arn=...
  demo kms_endpoint=...          demo oidc_issuer=...

The identity provider keeps its issuer (port and signing key, saved in
KEYPORT_DATA_DIR/devidp.json) across restarts, so the same email is the same
user; KEYPORT_DEV_IDP_ADDR moves it.
`,
	"migrate": `usage: keyport migrate

Applies the database migrations and exits. With KEYPORT_DEV=true it works on
keyport dev's data directory.
`,
	"audit": `usage: keyport audit verify

  verify   verify the audit log's hash chain and print the first broken row
`,
	"audit verify": `usage: keyport audit verify

Verifies the audit log's hash chain; exits 1 and prints the first broken row
when it does not hold.
`,
	"token": `usage: keyport token create --tenant ID --name NAME [--provider-wide]
       keyport token revoke TOKEN_ID
`,
	"token create": `usage: keyport token create (--tenant ID | --provider-wide) --name NAME

Creates a data-API service token and prints it once; keyport keeps only its
hash.

  --tenant ID        the tenant the token acts for
  --provider-wide    the token may act for any tenant named in each request
  --name NAME        what the token is for, e.g. the service's name
`,
	"token revoke": `usage: keyport token revoke TOKEN_ID

Revokes a data-API service token (TOKEN_ID is tok_..., as printed by token
create).
`,
	"tenant": `usage: keyport tenant create --name NAME --owner EMAIL
       keyport tenant list
`,
	"tenant create": `usage: keyport tenant create --name NAME --owner EMAIL

Creates a tenant and prints its id (tnt_...) alone on stdout. The tenant is
bound to EMAIL: the first sign-in with that verified email becomes its
owner (no other tenant is made for them). Names are unique, ignoring case.

  --name NAME      the tenant's name (at most 100 characters)
  --owner EMAIL    the email of its first owner
`,
	"tenant list": `usage: keyport tenant list

Prints every tenant as aligned columns ID, NAME and OWNER (the owners'
emails, or the bound email that has not signed in yet), with a header line.
`,
	"kek": `usage: keyport kek rotate

  rotate   re-seal every sealed secret under the current KEK
`,
	"kek rotate": `usage: keyport kek rotate

Re-seals every sealed secret under KEYPORT_KEK_FILE, opening old ones with
KEYPORT_KEK_PREVIOUS_FILE (see docs/operations.md). Safe to run again after
an interruption.
`,
	"backup": `usage: keyport backup PATH

Writes a consistent snapshot of the SQLite database to PATH (a new file; an
existing one is never overwritten) and checks its integrity.
`,
	"healthcheck": `usage: keyport healthcheck

Exits 0 if the keyport at KEYPORT_ADDR answers /healthz (for container
health checks; HTTPS when KEYPORT_TLS_CERT_FILE is set).
`,
	"help": `usage: keyport help [COMMAND [SUBCOMMAND]]

Prints the usage of keyport or of one command; so do COMMAND --help and -h.
`,
}

// usageError is input the command line refuses: main prints it with the
// command's usage and exits 2, so scripts can tell it from a failure.
type usageError struct {
	msg   string
	usage string // the command's usage, "" for none
}

func (e *usageError) Error() string { return e.msg }

// badUsage is a usageError for the command named by words.
func badUsage(words, format string, a ...any) error {
	return &usageError{msg: fmt.Sprintf(format, a...), usage: commandUsage[words]}
}

// exitCode is the process status for err: 2 for refused input, else 1.
func exitCode(err error) int {
	var u *usageError
	if errors.As(err, &u) {
		return 2
	}
	return 1
}

func isHelpFlag(a string) bool { return a == "-h" || a == "--help" || a == "-help" }

// helpFor answers a help request in args, if there is one: "help WORDS",
// or -h/--help anywhere. It reports whether it answered.
func helpFor(args []string, stdout io.Writer) (bool, error) {
	if len(args) == 0 {
		return false, nil
	}
	var words []string // the command's words: those before the first flag
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			break
		}
		words = append(words, a)
	}
	asked := slices.ContainsFunc(args, isHelpFlag)
	switch {
	case isHelpFlag(args[0]):
		words = nil
	case args[0] == "help":
		words = words[1:]
		if len(words) == 0 && asked { // keyport help --help
			_, err := io.WriteString(stdout, commandUsage["help"])
			return true, err
		}
	case !asked:
		return false, nil
	}
	if len(words) == 0 {
		_, err := io.WriteString(stdout, usage)
		return true, err
	}
	// The longest known command: "token create NAME" is token create's.
	for n := len(words); n > 0; n-- {
		if u, ok := commandUsage[strings.Join(words[:n], " ")]; ok {
			_, err := io.WriteString(stdout, u)
			return true, err
		}
	}
	return true, &usageError{msg: fmt.Sprintf("no command %q; commands: %s", strings.Join(words, " "), strings.Join(commandNames(), ", ")), usage: usage}
}

// commandNames lists the documented commands, sorted.
func commandNames() []string {
	return slices.Sorted(maps.Keys(commandUsage))
}

package models

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
)

// ID prefixes say what an id names, so a session id can never be mistaken for
// a tenant id in logs or URLs.
const (
	PrefixTenant    = "tnt_"
	PrefixUser      = "usr_"
	PrefixSession   = "ses_"
	PrefixLoginFlow = "lgn_"
)

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewID returns prefix followed by 24 lowercase base32 characters (120 random
// bits from crypto/rand): unguessable and URL-safe.
func NewID(prefix string) string {
	var b [15]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails; it crashes the program instead
	return prefix + strings.ToLower(idEncoding.EncodeToString(b[:]))
}

package keysvc

import (
	"errors"

	"keyport/models"
)

// ErrKeyNotFound: no such key for this tenant. The errors that come from
// KMS (revoked access, a disabled key, throttling...) are awskms's
// sentinels; keysvc returns them as they are.
var ErrKeyNotFound = errors.New("keysvc: key not found")

// ValidationError is bad input, named by field, with a message safe to
// show. It is the store's type: keyport has one validation error, so pages
// and APIs place every field message the same way whichever layer found it.
type ValidationError = models.ValidationError

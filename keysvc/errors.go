package keysvc

import (
	"errors"
	"keyport/models"
)

// Errors a caller acts on differently. "The tenant revoked access" is not
// "the key is disabled" is not "KMS is throttling us": tenants and services
// do different things about each.
var (
	// ErrAccessDenied: the tenant's KMS refused keyport (key policy or IAM
	// no longer allow it). Usually the tenant revoked access on purpose.
	ErrAccessDenied = errors.New("keysvc: access to the key was revoked by the key owner")
	// ErrKeyDisabled: the key is disabled, in keyport or in KMS.
	ErrKeyDisabled = errors.New("keysvc: the key is disabled")
	// ErrKeyPendingDeletion: the key is scheduled for deletion.
	ErrKeyPendingDeletion = errors.New("keysvc: the key is pending deletion")
	// ErrKeyNotUsable: the key exists but cannot be used yet or any more
	// (material not imported, expired, or validation has not passed).
	ErrKeyNotUsable = errors.New("keysvc: the key is not usable")
	// ErrThrottled: KMS is throttling; retry later.
	ErrThrottled = errors.New("keysvc: KMS is throttling requests")
	// ErrUnavailable: KMS could not be reached or failed; retry later.
	ErrUnavailable = errors.New("keysvc: KMS is unavailable")
	// ErrKeyNotFound: no such key for this tenant.
	ErrKeyNotFound = errors.New("keysvc: key not found")
)

// ValidationError is bad input, named by field, with a message safe to
// show. It is the store's type: keyport has one validation error, so pages
// and APIs place every field message the same way whichever layer found it.
type ValidationError = models.ValidationError

package awskms

import "errors"

// Errors a caller acts on differently, as ClassifyKMSError sorts AWS's
// answers. "The tenant revoked access" is not "the key is disabled" is not
// "KMS is throttling us": tenants and services do different things about
// each.
var (
	// ErrAccessDenied: the tenant's KMS refused keyport (key policy or IAM
	// no longer allow it). Usually the tenant revoked access on purpose.
	ErrAccessDenied = errors.New("awskms: access to the key was revoked by the key owner")
	// ErrKeyDisabled: the key is disabled, in keyport or in KMS.
	ErrKeyDisabled = errors.New("awskms: the key is disabled")
	// ErrKeyPendingDeletion: the key is scheduled for deletion.
	ErrKeyPendingDeletion = errors.New("awskms: the key is pending deletion")
	// ErrKeyNotUsable: the key exists but cannot be used yet or any more
	// (material not imported, expired, or validation has not passed).
	ErrKeyNotUsable = errors.New("awskms: the key is not usable")
	// ErrThrottled: KMS is throttling; retry later.
	ErrThrottled = errors.New("awskms: KMS is throttling requests")
	// ErrUnavailable: KMS could not be reached or failed; retry later.
	ErrUnavailable = errors.New("awskms: KMS is unavailable")
)

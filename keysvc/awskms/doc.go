// Package awskms is keyport's side of AWS: KMS and STS clients per
// connection and region (credentials from a sealed access key or from
// AssumeRole with an external id, jittered retries, timeouts, per-call
// metrics, an SDK log that never holds bodies outside development), the
// parsing of key, alias and role ARNs and the list of regions, the
// classification of AWS's answers into the errors callers act on, and the
// provider's KEK kept wrapped by a KMS key.
//
// It imports models (the one validation-error type) and keysvc/seal.
package awskms

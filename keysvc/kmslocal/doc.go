// Package kmslocal is a local stand-in for AWS KMS and the AssumeRole and
// GetCallerIdentity calls of AWS STS. It speaks the real wire protocols (KMS
// JSON 1.1 with X-Amz-Target: TrentService.<Operation>, STS query with an XML
// response), so code written against aws-sdk-go-v2 runs against it unchanged
// by pointing BaseEndpoint at the server.
//
// It exists for development mode (make run) and for tests. It is NOT a key
// management service: key material lives in process memory and, when
// Config.DataFile is set, in a plain JSON file on disk. Never put production
// data under a kmslocal key.
//
// What it models, checked against the AWS KMS API reference: symmetric
// encryption keys (AWS_KMS and EXTERNAL origin, single- and multi-Region with
// replicas), aliases, Encrypt / Decrypt / ReEncrypt / GenerateDataKey*, key
// material import (both RSA-OAEP and RSA + AES-KWP wrapping), material expiry
// and re-import, automatic and on-demand rotation, tags, key policies with
// Allow / Deny evaluation, key state transitions on the server's clock,
// SigV4-authenticated callers mapped to IAM principals, and the IAM identity
// policies of principals configured with Policies (a key policy that grants
// the account delegates to them; see iam.go). Errors come back with
// the AWS error type and HTTP status, so the SDK yields its typed errors.
//
// IAM identity policies are configured, not managed through an IAM API: a
// principal or role may carry one (Principal.IdentityPolicy,
// Role.IdentityPolicy), and a key policy statement granting the account root
// then delegates to it, as in AWS; an identity without one is allowed
// whatever the key policy grants its account root.
//
// What it leaves out: asymmetric and HMAC keys, grants, custom key stores,
// an IAM API, policy conditions (an Allow with a Condition never matches, a
// Deny with one always does), request-time skew checks, and AWS quotas other
// than the ones in Config.
//
// For tests the server offers an injectable clock (see ManualClock), fault
// injection (latency, throttling, failing the next calls of an operation,
// losing imported key material) and call counters per operation and per key.
package kmslocal

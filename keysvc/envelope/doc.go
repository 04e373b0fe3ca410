// Package envelope is keyport's record format and data-key cache: a
// ciphertext is self-describing (format version, key id and version, a
// commitment to the data key, nonce) and sealed with AES-256-GCM under a
// per-record key derived from the data key, with the tenant and the
// caller's context bound as associated data; plaintext data keys stay in
// a bounded, TTL-limited cache that collapses concurrent misses and zeroes
// keys it drops. The frozen vector in its tests pins the format.
//
// It imports only models (for the one validation-error type); it knows
// nothing of KMS, HTTP or the store.
package envelope

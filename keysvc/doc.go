// Package keysvc holds keyport's keys and crypto: the at-rest sealer under the
// provider key-encryption key (KEK), and later the KMS clients, envelope
// encryption, data-key cache and key lifecycle. It knows nothing of HTTP or
// pages; from the store it uses only small interfaces it declares itself.
package keysvc

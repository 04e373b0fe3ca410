// Package seal keeps keyport's secrets at rest: the provider's
// key-encryption key (KEK) from a local file, the sealer (AES-256-GCM with
// the seal purpose bound as associated data, several KEKs by id for
// rotation), the sealed-secret store of named secrets such as the audit
// key, the purpose of every sealed column and the registry of those
// columns that a KEK rotation walks.
//
// It imports only models (for the rows it re-seals); a KEK kept in AWS KMS
// is loaded by keysvc/awskms and handed over as bytes.
package seal

// Package jobs runs keyport's durable jobs: rows in the database claimed
// with a lease and a fencing token, so that any number of replicas never
// run one job twice and a crashed worker's job is taken over, retried with
// jittered exponential backoff until it succeeds or fails for good
// (Permanent).
//
// It imports only models.
package jobs

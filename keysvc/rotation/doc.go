// Package rotation runs keyport's schedules: rotation policies and the
// next rotation of every key, the rotation jobs themselves (a new data key
// for customer-managed keys, optionally new KMS key material on demand; a
// renewal for keys whose material keyport holds), the notices before and
// after a rotation and on bad health, material-expiry reminders, and the
// periodic validation sweep. Email goes through the outbox; its words come
// from a Renderer the caller supplies.
//
// It imports keysvc and its leaf packages (jobs, mailer, awskms) and
// models; keysvc never imports it.
package rotation

package keysvc

// SetAfterSend installs a hook between a successful send and the "sent"
// mark, so tests can crash a worker inside the undecidable window.
func SetAfterSend(o *Outbox, f func(id string) error) { o.afterSend = f }

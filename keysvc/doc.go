// Package keysvc is keyport's key service: the Service facade, the data
// plane (envelope encryption through the data-key cache, service tokens,
// use counting), AWS connections, and the registration and validation of
// customer-managed keys. It knows nothing of HTTP or pages.
//
// It imports models and its leaf packages (envelope, seal, awskms); the
// packages that build on it (managed, rotation, compliance) import it,
// never the reverse.
package keysvc

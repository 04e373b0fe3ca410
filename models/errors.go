package models

import "errors"

// ErrNotFound is returned when a row does not exist (or is not visible in the
// caller's scope, which callers must not be able to tell apart).
var ErrNotFound = errors.New("models: not found")

// ErrConflict is returned when a write collides with an existing row.
var ErrConflict = errors.New("models: conflict")

// ValidationError reports invalid input for one field; its message is safe to
// show to the user.
type ValidationError struct {
	Field   string
	Message string
}

// Error implements error.
func (e *ValidationError) Error() string {
	return "models: " + e.Field + ": " + e.Message
}

// invalid is shorthand for building a *ValidationError.
func invalid(field, message string) error {
	return &ValidationError{Field: field, Message: message}
}

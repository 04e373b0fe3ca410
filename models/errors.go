package models

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"gorm.io/gorm"
)

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

// ValidationErrors is every bad field of one form, reported at once so a
// form shows each message at its field in one round.
type ValidationErrors []*ValidationError

// Error implements error.
func (e ValidationErrors) Error() string {
	parts := make([]string, len(e))
	for i, v := range e {
		parts[i] = v.Field + ": " + v.Message
	}
	return "models: " + strings.Join(parts, "; ")
}

// Unwrap gives each error, so errors.As finds the first *ValidationError
// for a caller that shows only one (the data API).
func (e ValidationErrors) Unwrap() []error {
	out := make([]error, len(e))
	for i, v := range e {
		out[i] = v
	}
	return out
}

// Err is nil without errors, else e itself.
func (e ValidationErrors) Err() error {
	if len(e) == 0 {
		return nil
	}
	return e
}

// KeyNameTaken reports whether another of the tenant's keys has name,
// ignoring case, so a form can say so beside its other errors; the unique
// index still decides at insert.
func (db *DB) KeyNameTaken(ctx context.Context, tenantID, name string) (bool, error) {
	taken, err := nameTaken(db.g.WithContext(ctx), "keys", tenantID, name, "")
	if err != nil {
		return false, fmt.Errorf("key name taken: %w", mapErr(err))
	}
	return taken, nil
}

// invalid is shorthand for building a *ValidationError.
func invalid(field, message string) error {
	return &ValidationError{Field: field, Message: message}
}

// ErrNameTaken refuses a key, key store or connection whose name another
// one of the same kind in the tenant has: one rule for the three, names
// compared ignoring case (the unique indexes of migration 26 hold it).
var ErrNameTaken = &ValidationError{Field: "name", Message: "is already used in this tenant (names are compared ignoring case)"}

// nameTaken reports whether a tenant's table already has name, ignoring
// case; except, if not empty, is the id of the row being renamed.
func nameTaken(tx *gorm.DB, table, tenantID, name, except string) (bool, error) {
	q := tx.Table(table).Where("tenant_id = ? AND lower(name) = lower(?)", tenantID, name)
	if except != "" {
		q = q.Where("id <> ?", except)
	}
	var n int64
	err := q.Count(&n).Error
	return n > 0, err
}

// duplicateName turns a unique violation on a name (two writes racing past
// nameTaken) into ErrNameTaken.
func duplicateName(err error) error {
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return ErrNameTaken
	}
	return err
}

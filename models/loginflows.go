package models

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// LoginFlow is the state of one OIDC sign-in between the redirect to the IdP
// and the callback. It is single use: TakeLoginFlow deletes it.
type LoginFlow struct {
	ID         string
	SecretHash []byte // SHA-256 of the secret in the flow cookie
	State      string
	Nonce      string
	ReturnTo   string
	// StepUpUserID is set when a signed-in user is asked to sign in again
	// (before an export): the callback then requires a fresh
	// authentication of this same user, later than CreatedAt.
	StepUpUserID string
	CreatedAt    time.Time
	ExpiresAt    time.Time
}

// CreateLoginFlow stores f. An empty ID is filled with a new "lgn_" id and a
// zero CreatedAt with the current time, written back to f.
func (db *DB) CreateLoginFlow(ctx context.Context, f *LoginFlow) error {
	switch {
	case len(f.SecretHash) != sha256.Size:
		return invalid("secret_hash", "must be a SHA-256 hash")
	case f.State == "":
		return invalid("state", "is required")
	case f.Nonce == "":
		return invalid("nonce", "is required")
	case f.ExpiresAt.IsZero():
		return invalid("expires_at", "is required")
	}
	if f.ID == "" {
		f.ID = NewID(PrefixLoginFlow)
	}
	if f.CreatedAt.IsZero() {
		f.CreatedAt = db.now()
	}
	f.CreatedAt, f.ExpiresAt = ts(f.CreatedAt), ts(f.ExpiresAt)
	if err := db.g.WithContext(ctx).Table("login_flows").Create(f).Error; err != nil {
		return fmt.Errorf("create login flow: %w", mapErr(err))
	}
	return nil
}

// TakeLoginFlow returns the flow and deletes it in one transaction, so a
// replayed callback finds nothing. A missing, already taken or expired flow
// gives ErrNotFound (an expired one is deleted too).
func (db *DB) TakeLoginFlow(ctx context.Context, id string) (*LoginFlow, error) {
	var f LoginFlow
	err := db.g.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Table("login_flows").Where("id = ?", id).Take(&f).Error; err != nil {
			return err
		}
		res := tx.Exec("DELETE FROM login_flows WHERE id = ?", id)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			// Another transaction took it between our read and delete (possible
			// on backends without immediate locking).
			return gorm.ErrRecordNotFound
		}
		return nil
	})
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, fmt.Errorf("take login flow: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("take login flow: %w", err)
	}
	if !db.now().Before(f.ExpiresAt) {
		return nil, fmt.Errorf("take login flow: %w", ErrNotFound)
	}
	f.CreatedAt, f.ExpiresAt = f.CreatedAt.UTC(), f.ExpiresAt.UTC()
	return &f, nil
}

// DeleteExpiredLoginFlows deletes flows that expired before now (abandoned
// sign-ins), returning how many went.
func (db *DB) DeleteExpiredLoginFlows(ctx context.Context, now time.Time) (int64, error) {
	res := db.g.WithContext(ctx).Exec("DELETE FROM login_flows WHERE expires_at <= ?", ts(now))
	if res.Error != nil {
		return 0, fmt.Errorf("delete expired login flows: %w", res.Error)
	}
	return res.RowsAffected, nil
}

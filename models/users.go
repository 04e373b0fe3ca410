package models

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// User is a person who signed in through OIDC, identified by (Issuer, Subject).
// Email and Name are refreshed from the IdP on every sign-in.
type User struct {
	ID           string
	Issuer       string
	Subject      string
	Email        string
	Name         string
	CreatedAt    time.Time
	LastSignInAt *time.Time
}

// normalize puts times in UTC whatever the driver returned.
func (u *User) normalize() {
	u.CreatedAt = u.CreatedAt.UTC()
	if u.LastSignInAt != nil {
		t := u.LastSignInAt.UTC()
		u.LastSignInAt = &t
	}
}

// UpsertOIDCUser records a sign-in: it creates the user for (issuer, subject)
// if new, otherwise updates email, name and LastSignInAt. created tells which.
func (db *DB) UpsertOIDCUser(ctx context.Context, issuer, subject, email, name string) (u *User, created bool, err error) {
	switch {
	case issuer == "" || len(issuer) > 1024:
		return nil, false, invalid("issuer", "must be 1 to 1024 characters")
	case subject == "" || len(subject) > 255: // OIDC Core caps sub at 255 ASCII characters
		return nil, false, invalid("subject", "must be 1 to 255 characters")
	case len(email) > 320:
		return nil, false, invalid("email", "is too long")
	case len(name) > 500:
		return nil, false, invalid("name", "is too long")
	}
	// Two first sign-ins of one user can race; the loser of the unique
	// (issuer, subject) insert retries and finds the winner's row.
	for attempt := 0; ; attempt++ {
		u, created, err = db.upsertUser(ctx, issuer, subject, email, name)
		if errors.Is(err, ErrConflict) && attempt == 0 {
			continue
		}
		if err != nil {
			return nil, false, fmt.Errorf("upsert user: %w", err)
		}
		return u, created, nil
	}
}

func (db *DB) upsertUser(ctx context.Context, issuer, subject, email, name string) (*User, bool, error) {
	now := db.now()
	var u User
	created := false
	err := db.g.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		err := tx.Table("users").Where("issuer = ? AND subject = ?", issuer, subject).Take(&u).Error
		switch {
		case errors.Is(err, gorm.ErrRecordNotFound):
			u = User{ID: NewID(PrefixUser), Issuer: issuer, Subject: subject, Email: email, Name: name, CreatedAt: now, LastSignInAt: &now}
			created = true
			return tx.Table("users").Create(&u).Error
		case err != nil:
			return err
		}
		u.Email, u.Name, u.LastSignInAt = email, name, &now
		return tx.Table("users").Where("id = ?", u.ID).
			Updates(map[string]any{"email": email, "name": name, "last_sign_in_at": now}).Error
	})
	if err != nil {
		return nil, false, mapErr(err)
	}
	u.normalize()
	return &u, created, nil
}

// GetUser returns the user with the given id, or ErrNotFound.
func (db *DB) GetUser(ctx context.Context, id string) (*User, error) {
	var u User
	if err := db.g.WithContext(ctx).Table("users").Where("id = ?", id).Take(&u).Error; err != nil {
		return nil, fmt.Errorf("get user: %w", mapErr(err))
	}
	u.normalize()
	return &u, nil
}

// FindOIDCUser returns the user for (issuer, subject) without recording a
// sign-in, or ErrNotFound.
func (db *DB) FindOIDCUser(ctx context.Context, issuer, subject string) (*User, error) {
	var u User
	if err := db.g.WithContext(ctx).Table("users").Where("issuer = ? AND subject = ?", issuer, subject).Take(&u).Error; err != nil {
		return nil, fmt.Errorf("find oidc user: %w", mapErr(err))
	}
	u.normalize()
	return &u, nil
}

// UsersWithEmail returns the users of issuer whose email matches, ignoring
// letter case: who a sign-in with a new subject may be.
func (db *DB) UsersWithEmail(ctx context.Context, issuer, email string) ([]User, error) {
	var us []User
	if err := db.g.WithContext(ctx).Table("users").Where("issuer = ? AND lower(email) = ?", issuer, strings.ToLower(email)).
		Order("id").Find(&us).Error; err != nil {
		return nil, fmt.Errorf("find users by email: %w", mapErr(err))
	}
	for i := range us {
		us[i].normalize()
	}
	return us, nil
}

// LinkSubject moves user id to a new subject of the same issuer (the
// provider changed how it identifies the person), writing audit in the same
// transaction. It fails with ErrConflict when the new subject already has a
// user, and ErrNotFound when id has gone.
func (db *DB) LinkSubject(ctx context.Context, id, issuer, subject string, audit AuditInput) error {
	if subject == "" || len(subject) > 255 {
		return invalid("subject", "must be 1 to 255 characters")
	}
	return db.change(ctx, "link subject", func(tx *gorm.DB) (*AuditInput, error) {
		res := tx.Table("users").Where("id = ? AND issuer = ?", id, issuer).Update("subject", subject)
		if res.Error != nil {
			return nil, res.Error
		}
		if res.RowsAffected != 1 {
			return nil, ErrNotFound
		}
		return optional(&audit), nil
	})
}

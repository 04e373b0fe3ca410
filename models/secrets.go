package models

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// sealedSecret is a row of sealed_secrets.
type sealedSecret struct {
	Name      string
	Blob      []byte
	CreatedAt time.Time
}

// maxSecretName matches the column size.
const maxSecretName = 200

// GetSealedSecret returns the sealed blob stored under name, or ErrNotFound.
// The store never sees plaintext: blobs are sealed by keysvc.
func (db *DB) GetSealedSecret(ctx context.Context, name string) ([]byte, error) {
	var s sealedSecret
	if err := db.g.WithContext(ctx).Table("sealed_secrets").Where("name = ?", name).Take(&s).Error; err != nil {
		return nil, fmt.Errorf("get sealed secret: %w", mapErr(err))
	}
	return s.Blob, nil
}

// PutSealedSecretIfAbsent stores blob under name unless a blob is already
// there, and returns the stored blob: the existing one if another writer (say
// a second replica starting at the same moment) won. Callers must use the
// returned blob, never their own, so that every process ends up with the same
// secret.
func (db *DB) PutSealedSecretIfAbsent(ctx context.Context, name string, blob []byte) ([]byte, error) {
	switch {
	case name == "" || len(name) > maxSecretName:
		return nil, invalid("name", fmt.Sprintf("must be 1 to %d characters", maxSecretName))
	case len(blob) == 0:
		return nil, invalid("blob", "is empty")
	}
	var stored sealedSecret
	err := db.g.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		row := sealedSecret{Name: name, Blob: blob, CreatedAt: db.now()}
		err := tx.Table("sealed_secrets").Clauses(clause.OnConflict{
			Columns: []clause.Column{{Name: "name"}}, DoNothing: true,
		}).Create(&row).Error
		if err != nil {
			return err
		}
		return tx.Table("sealed_secrets").Where("name = ?", name).Take(&stored).Error
	})
	if err != nil {
		return nil, fmt.Errorf("put sealed secret: %w", mapErr(err))
	}
	return stored.Blob, nil
}

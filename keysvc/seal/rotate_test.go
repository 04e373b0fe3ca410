package seal

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"

	"keyport/models"
	"keyport/models/modelstest"
)

// rotationWorld is a store with every kind of sealed value under oldKEK: the
// audit key, a connection's IAM secret, mail bodies and the KMS-wrapped KEK
// row (which is not a sealer blob and must be left alone).
type rotationWorld struct {
	db       *models.DB
	old      *Sealer
	oldKEK   []byte
	auditKey []byte
	tenantID string
	connID   string
	mailIDs  []string
}

func newRotationWorld(t *testing.T, mails int) *rotationWorld {
	t.Helper()
	ctx := context.Background()
	db, err := models.Open(ctx, modelstest.DSN(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	w := &rotationWorld{db: db, oldKEK: make([]byte, 32)}
	rand.Read(w.oldKEK)
	w.old = newTestSealer(t, w.oldKEK)
	if w.auditKey, err = AuditKey(ctx, db, w.old); err != nil {
		t.Fatal(err)
	}
	db.SetAuditKey(w.auditKey)
	if _, err := db.PutSealedSecretIfAbsent(ctx, KMSKEKSecret, []byte("kms ciphertext, not a sealer blob")); err != nil {
		t.Fatal(err)
	}
	u, _, err := db.UpsertOIDCUser(ctx, "https://idp.test", "owner", "owner@kek.test", "Owner")
	if err != nil {
		t.Fatal(err)
	}
	tenant, err := db.CreateTenantWithOwner(ctx, "kek.test", u.ID, models.AuditInput{Actor: u.ID, Action: "tenant.created"})
	if err != nil {
		t.Fatal(err)
	}
	conn := &models.Connection{ID: models.NewID(models.PrefixConnection), TenantID: tenant.ID, Name: "prod",
		AccountID: "111122223333", DefaultRegion: "eu-west-1", Kind: "access_key", AccessKeyID: "AKIAKEKROTATION00001"}
	conn.SecretSealed = mustSeal(t, w.old, SecretPurpose(conn.ID), []byte("iam secret access key"))
	if err := db.CreateConnection(ctx, conn, models.AuditInput{Actor: u.ID, Action: "connection.created"}); err != nil {
		t.Fatal(err)
	}
	w.tenantID, w.connID = tenant.ID, conn.ID
	var batch []models.NewMail
	for i := range mails {
		// What the outbox writes: a body sealed for its message id.
		id := models.NewID("msg_")
		body := mustSeal(t, w.old, OutboxPurpose(id), []byte(fmt.Sprintf(`{"text":"body %d with a link token"}`, i)))
		batch = append(batch, models.NewMail{ID: id, TenantID: tenant.ID, Kind: "test", Recipient: "x@kek.test",
			Subject: "s", BodySealed: body, MessageID: id + "@kek.test"})
		w.mailIDs = append(w.mailIDs, id)
	}
	if err := db.EnqueueMail(ctx, batch...); err != nil {
		t.Fatal(err)
	}
	return w
}

// checkAllOpen proves that the KEK alone opens every sealed value.
func (w *rotationWorld) checkAllOpen(t *testing.T, kek []byte) {
	t.Helper()
	ctx := context.Background()
	s := newTestSealer(t, kek)
	key, err := AuditKey(ctx, w.db, s)
	if err != nil || !bytes.Equal(key, w.auditKey) {
		t.Fatalf("audit key with the new KEK alone: %v", err)
	}
	conn, err := w.db.GetConnection(ctx, w.tenantID, w.connID)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Open(SecretPurpose(conn.ID), conn.SecretSealed); err != nil || string(got) != "iam secret access key" {
		t.Fatalf("connection secret with the new KEK alone: %q, %v", got, err)
	}
	for i, id := range w.mailIDs {
		m, err := w.db.GetOutboxMessage(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := s.Open(OutboxPurpose(id), m.BodySealed); err != nil || !bytes.Contains(got, []byte(fmt.Sprintf("body %d ", i))) {
			t.Fatalf("mail %d with the new KEK alone: %v", i, err)
		}
	}
	if blob, _ := w.db.GetSealedSecret(ctx, KMSKEKSecret); string(blob) != "kms ciphertext, not a sealer blob" {
		t.Error("the KMS-wrapped KEK row was touched")
	}
}

// TestRotateKEKResumable stops a rotation part way, runs it again to the
// end, then once more (nothing to do), and finally opens everything with
// the new KEK alone: the old one can be removed.
func TestRotateKEKResumable(t *testing.T) {
	w := newRotationWorld(t, 2*resealPage+50)
	newKEK := make([]byte, 32)
	rand.Read(newKEK)
	s := newTestSealer(t, newKEK)
	if err := s.AddPrevious(w.oldKEK); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	first, err := RotateKEK(ctx, w.db, s, func(c ColumnRotation) {
		if c.Column == "outbox.body_sealed" && c.Resealed >= resealPage {
			cancel() // the operator's Ctrl-C, a lost connection, a crash
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: err = %v, want context.Canceled", err)
	}
	second, err := RotateKEK(context.Background(), w.db, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	ft, st := first.Total(), second.Total()
	sealedRows := 1 + len(w.mailIDs) + 1 // connection, mails, audit key
	if ft.Resealed+st.Resealed != sealedRows || st.Current != ft.Resealed || st.Skipped != 1 || !second.Done() {
		t.Errorf("first %+v, second %+v: want %d re-sealed in all, the second run resuming", ft, st, sealedRows)
	}
	third, err := RotateKEK(context.Background(), w.db, s, nil)
	if err != nil || third.Total().Resealed != 0 || third.Total().Current != sealedRows {
		t.Errorf("third run = %+v, %v; want nothing left to do", third.Total(), err)
	}
	t.Logf("kek rotation: %d rows, first run %d before the interruption, second %d", sealedRows, ft.Resealed, st.Resealed)
	w.checkAllOpen(t, newKEK)
}

// TestRotateKEKReportsWhatDoesNotOpen: without the previous KEK nothing
// opens; the rotation says so, row by row, and is not done.
func TestRotateKEKReportsWhatDoesNotOpen(t *testing.T) {
	w := newRotationWorld(t, 3)
	s := newTestSealer(t, bytes.Repeat([]byte{0x11}, 32))
	rep, err := RotateKEK(context.Background(), w.db, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Done() || rep.Total().Failed != 5 || len(rep.Failures) != 5 {
		t.Errorf("report = %+v, failures %q", rep.Total(), rep.Failures)
	}
	for _, f := range rep.Failures {
		if !bytes.Contains([]byte(f), []byte(w.old.KeyID())) {
			t.Errorf("failure %q does not name the KEK the row is under", f)
		}
	}
}

// raceStore rewrites a row under the current KEK just before the
// rotation's swap, as a serving replica would.
type raceStore struct {
	*models.DB
	s     *Sealer
	raced map[string]bool
}

func (r *raceStore) ReplaceSealedBlob(ctx context.Context, col models.SealedColumn, id string, old, new []byte) (bool, error) {
	if col.Table == "outbox" && !r.raced[id] {
		r.raced[id] = true
		replica, _ := r.s.Reseal(OutboxPurpose(id), old)
		if ok, err := r.DB.ReplaceSealedBlob(ctx, col, id, old, replica); !ok || err != nil {
			return false, fmt.Errorf("simulated replica write: %v %v", ok, err)
		}
	}
	return r.DB.ReplaceSealedBlob(ctx, col, id, old, new)
}

func TestRotateKEKRacingWriterWins(t *testing.T) {
	w := newRotationWorld(t, 4)
	s := newTestSealer(t, bytes.Repeat([]byte{0x22}, 32))
	if err := s.AddPrevious(w.oldKEK); err != nil {
		t.Fatal(err)
	}
	rep, err := RotateKEK(context.Background(), &raceStore{DB: w.db, s: s, raced: map[string]bool{}}, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rep.Columns {
		if c.Column == "outbox.body_sealed" && (c.Current != 4 || c.Resealed != 0) {
			t.Errorf("outbox = %+v: the replica's writes should stand", c)
		}
	}
	w.checkAllOpen(t, bytes.Repeat([]byte{0x22}, 32))
}

// extraColumnStore pretends the schema grew a sealed column nobody
// registered.
type extraColumnStore struct{ *models.DB }

func (e extraColumnStore) SealedColumnsInSchema(ctx context.Context) ([]models.SealedColumn, error) {
	cols, err := e.DB.SealedColumnsInSchema(ctx)
	return append(cols, models.SealedColumn{Table: "new_things", BlobColumn: "token_sealed"}), err
}

func TestRotateKEKRefusesUnregisteredColumn(t *testing.T) {
	w := newRotationWorld(t, 1)
	s := newTestSealer(t, bytes.Repeat([]byte{0x33}, 32))
	_ = s.AddPrevious(w.oldKEK)
	_, err := RotateKEK(context.Background(), extraColumnStore{w.db}, s, nil)
	if !errors.Is(err, ErrUnregisteredSealedColumn) || !bytes.Contains([]byte(err.Error()), []byte("new_things.token_sealed")) {
		t.Fatalf("err = %v, want ErrUnregisteredSealedColumn naming new_things.token_sealed", err)
	}
	// Nothing was touched.
	if blob, _ := w.db.GetSealedSecret(context.Background(), AuditKeySecret); !w.old.IsCurrent(blob) {
		t.Error("a refused rotation re-sealed the audit key")
	}
}

// TestEverySealedColumnOfTheSchemaIsRegistered holds the real registry
// against a freshly migrated schema: a sealed column that the list lacks
// makes every `keyport kek rotate` refuse (import_requests.private_sealed
// once did, on every database).
func TestEverySealedColumnOfTheSchemaIsRegistered(t *testing.T) {
	w := newRotationWorld(t, 0)
	cols, err := w.db.SealedColumnsInSchema(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, c := range SealedColumns() {
		known[c.String()] = true
	}
	for _, c := range cols {
		if !known[c.String()] {
			t.Errorf("sealed column %s is not in seal's registry", c)
		}
	}
	if _, err := RotateKEK(context.Background(), w.db, newTestSealer(t, w.oldKEK), nil); err != nil {
		t.Errorf("RotateKEK on a fresh schema: %v", err)
	}
}

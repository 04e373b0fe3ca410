package rotation

// Rotation of keys whose data keys the tenant supplies (InCountry's BYOK):
// keyport never replaces such a data key with one it makes. When the
// rotation is due the owners and admins are asked for the next one (a
// notice, its email and the audit event key.data_key_requested); the
// uploaded key becomes the next version and starts the next cycle.

import (
	"context"
	"strconv"
	"time"

	"keyport/keysvc"
	"keyport/models"
)

// askForDataKey is the rotation job of such a key when its rotation is
// due: the notice and its mail are recorded as sent with the audit event,
// and the job completes, in one transaction. The policy keeps its date, so
// the key shows the rotation as due until a new data key arrives.
func (s *Scheduler) askForDataKey(ctx context.Context, k *models.Key, pol *models.RotationPolicy, p rotatePayload, l models.Lease) error {
	due := pol.NextRotationAt
	n := models.Notice{TenantID: k.TenantID, KeyID: k.ID, Kind: models.NoticeDataKeyRequested, RotationAt: &due,
		DedupeKey: "datakey:" + k.ID + ":v" + strconv.FormatInt(p.FromVersion, 10)}
	mail, err := s.noticeMail(ctx, k, pol, n, NoticeMail{FromVersion: p.FromVersion, RotationAt: due})
	if err != nil {
		return err
	}
	audit := models.AuditInput{Actor: "system", Action: "key.data_key_requested", Details: map[string]string{
		"from_version": strconv.FormatInt(p.FromVersion, 10), "due_at": due.UTC().Format(time.RFC3339), "reason": p.Reason}}
	return s.DB.SaveRotationPlan(ctx, models.RotationPlan{Policy: *pol}, models.PlanWrite{Lease: &l, Sent: []models.Notice{n}, Mail: mail, Audit: &audit})
}

// DataKeyRequested reports whether keyport is waiting for the tenant's
// next data key of a key: its rotation is due (the request went out).
func (s *Scheduler) DataKeyRequested(ctx context.Context, k *models.Key) (bool, time.Time, error) {
	if !k.TenantDataKeys {
		return false, time.Time{}, nil
	}
	pol, err := s.Policy(ctx, k.TenantID, k.ID)
	if err != nil {
		return false, time.Time{}, err
	}
	ok, err := s.DB.AnyNotice(ctx, []string{"datakey:" + k.ID + ":v" + strconv.FormatInt(k.CurrentVersion, 10)})
	return ok, pol.NextRotationAt, err
}

// UploadDataKey makes the tenant's uploaded data key (a base64
// GenerateDataKeyWithoutPlaintext blob) the key's next version, once KMS
// has shown it decrypts in every region, and plans the next cycle from it
// with the "rotated" notice.
func (s *Scheduler) UploadDataKey(ctx context.Context, tenantID, keyID string, by keysvc.RequestBy, encrypted string) (int64, error) {
	v, err := s.Keys.AddTenantDataKey(ctx, tenantID, keyID, by, encrypted)
	if err != nil {
		return 0, err
	}
	k, err := s.DB.GetKey(ctx, tenantID, keyID)
	if err != nil {
		return v, err
	}
	err = s.afterRotation(ctx, k, rotatePayload{KeyID: keyID, FromVersion: v - 1, Reason: "manual", Actor: by.UserID}, nil,
		"The new version is the data key you uploaded.")
	if err == nil {
		s.Worker.Wake()
	}
	return v, err
}

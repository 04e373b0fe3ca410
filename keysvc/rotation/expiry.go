package rotation

import (
	"context"
	"strconv"
	"time"

	"keyport/models"
)

// ExpiryReminderDays are the lead times of the reminders before key
// material keyport imported expires in KMS; a last notice says it expired.
var ExpiryReminderDays = []int{30, 7, 1}

// expiredNoticeFor is how long after an expiry the expired notice is still
// sent (a worker that was down that long has nothing useful to add).
const expiredNoticeFor = 30 * 24 * time.Hour

// expiryDedupe names one stage of the reminders about one expiry of one
// material (lead 0: expired). A re-upload gives the material a new expiry,
// and with it a new set of reminders.
func expiryDedupe(materialID string, validTo time.Time, lead int) string {
	return "expiry:" + materialID + ":" + strconv.FormatInt(validTo.Unix(), 10) + ":" + strconv.Itoa(lead)
}

// expiryStage is the latest stage of the reminders that is due at now: 0
// once the material expired, else the smallest lead time whose day has
// come; ok is false before the first one.
func expiryStage(validTo, now time.Time) (lead int, ok bool) {
	if !now.Before(validTo) {
		return 0, true
	}
	for i := len(ExpiryReminderDays) - 1; i >= 0; i-- {
		l := ExpiryReminderDays[i]
		if !now.Before(validTo.AddDate(0, 0, -l)) {
			return l, true
		}
	}
	return 0, false
}

// laterStages are the dedupe keys of stage lead and every later one: when
// one of them was sent, stage lead is done (sent, or overtaken by a clock
// that jumped past it, whose stale reminder would only confuse).
func laterStages(materialID string, validTo time.Time, lead int) []string {
	out := []string{expiryDedupe(materialID, validTo, lead)}
	for i := len(ExpiryReminderDays) - 1; i >= 0; i-- {
		if l := ExpiryReminderDays[i]; l < lead {
			out = append(out, expiryDedupe(materialID, validTo, l))
		}
	}
	if lead != 0 {
		out = append(out, expiryDedupe(materialID, validTo, 0))
	}
	return out
}

// notifyExpiry tells the tenant's owners and admins that material keyport
// imported into their KMS expires in 30, 7 and 1 days, and that it
// expired: each stage once per expiry, deduplicated by the notice's unique
// key, so every replica may run it and a clock that jumps back or forth
// neither repeats a stage nor sends one that a later stage overtook. A
// stage whose day was missed (the workers were down) goes out late, unless
// a later one is due too: then only the latest. Reminders are optional
// notices; the expired one is a health notice that every owner and admin
// gets.
func (s *Scheduler) notifyExpiry(ctx context.Context) {
	now := s.Now().UTC()
	mats, err := s.DB.MaterialsExpiring(ctx, now.Add(-expiredNoticeFor), now.AddDate(0, 0, ExpiryReminderDays[0]), 500)
	if err != nil {
		s.Logger.Warn("scheduler: materials expiring", "err", err)
		return
	}
	queued := false
	for i := range mats {
		m := &mats[i]
		lead, ok := expiryStage(m.ValidTo, now)
		if !ok {
			continue
		}
		done := laterStages(m.ID, m.ValidTo, lead)
		if sent, err := s.DB.AnyNotice(ctx, done); err != nil || sent {
			if err != nil {
				s.Logger.Warn("scheduler: expiry notice", "material", m.ID, "err", err)
			}
			continue
		}
		wrote, err := s.sendExpiryNotice(ctx, m, lead, done)
		if err != nil {
			s.Logger.Warn("scheduler: expiry notice", "material", m.ID, "err", err)
			continue
		}
		queued = queued || wrote
	}
	if queued {
		s.Worker.Wake()
	}
}

// sendExpiryNotice records one stage of a material's reminders with its
// mail. The expired notice of the active material is recorded without
// mail when the key's health already told everyone the material expired.
func (s *Scheduler) sendExpiryNotice(ctx context.Context, m *models.ExpiringMaterial, lead int, done []string) (bool, error) {
	k, err := s.DB.GetKey(ctx, m.TenantID, m.KeyID)
	if err != nil {
		return false, err
	}
	validTo := m.ValidTo
	n := models.Notice{TenantID: m.TenantID, KeyID: m.KeyID, Kind: models.NoticeMaterialExpiring, DedupeKey: done[0],
		RotationAt: &validTo, LeadDays: lead, Detail: m.ID}
	if lead == 0 {
		n.Kind, n.Detail = models.NoticeHealth, string(models.HealthMaterialExpired)
	}
	var mail []models.NewMail
	active := m.State == models.MaterialActive
	if !(lead == 0 && active && k.Health == models.HealthMaterialExpired && s.healthNotified(ctx, k)) {
		mail, err = s.noticeMail(ctx, k, nil, n, NoticeMail{LeadDays: lead, ValidTo: validTo, MaterialVersion: m.Seq,
			Fingerprint: m.Fingerprint, MaterialActive: active, AutoReupload: m.AutoReupload && active, Health: string(models.HealthMaterialExpired)})
		if err != nil {
			return false, err
		}
	}
	return s.DB.RecordNotice(ctx, n, done[1:], mail)
}

// healthNotified reports whether the key's current health was already
// the subject of a health notice.
func (s *Scheduler) healthNotified(ctx context.Context, k *models.Key) bool {
	p, err := s.DB.GetRotationPolicy(ctx, k.TenantID, k.ID)
	return err == nil && p.HealthNotified == k.Health
}

// expiryToldFor reports whether a key whose health turned to expired
// material was already told so by the expiry notice of its active
// material, so that the health pass does not say it twice.
func (s *Scheduler) expiryToldFor(ctx context.Context, tenantID, keyID string, health models.Health) bool {
	if health != models.HealthMaterialExpired {
		return false
	}
	mat, err := s.DB.ActiveMaterial(ctx, tenantID, keyID)
	if err != nil || mat.ValidTo == nil {
		return false
	}
	sent, err := s.DB.AnyNotice(ctx, []string{expiryDedupe(mat.ID, *mat.ValidTo, 0)})
	return err == nil && sent
}

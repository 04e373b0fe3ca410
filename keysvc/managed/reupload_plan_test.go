package managed

import (
	"context"
	"testing"
	"time"

	"keyport/models"
)

// TestPlanReuploads: a key that asks for automatic re-upload gets one
// re-upload job a week before its material expires in KMS, however many
// ticks (of however many replicas) plan it; a key that does not ask gets
// none.
func TestPlanReuploads(t *testing.T) {
	ctx := context.Background()
	e := newLCEnv(t)
	auto, err := e.svc.CreateGeneratedKey(ctx, e.tenant.ID, e.by, CreateKeyInput{StoreID: e.store.ID, Name: "auto", ValidDays: 30, AutoReupload: true})
	if err != nil {
		t.Fatal(err)
	}
	e.create(t, "manual", 30)
	mat, err := e.db.ActiveMaterial(ctx, e.tenant.ID, auto.Key.ID)
	if err != nil || mat.ValidTo == nil {
		t.Fatalf("active material of the auto key: %+v %v", mat, err)
	}
	for range 3 {
		if err := e.svc.planReuploads(ctx); err != nil {
			t.Fatal(err)
		}
	}
	counts, err := e.db.JobCounts(ctx, jobKindReupload)
	if err != nil {
		t.Fatal(err)
	}
	if counts[models.JobPending] != 1 || len(counts) != 1 {
		t.Fatalf("re-upload jobs = %v, want one pending", counts)
	}
	j, err := e.db.JobByRunKey(ctx, reuploadRunKey(mat.ID, *mat.ValidTo))
	if err != nil {
		t.Fatal(err)
	}
	if want := mat.ValidTo.Add(-reuploadLead).Truncate(time.Second); !j.DueAt.Truncate(time.Second).Equal(want) || j.TenantID != e.tenant.ID {
		t.Fatalf("job due %v for tenant %s, want %v for %s", j.DueAt, j.TenantID, want, e.tenant.ID)
	}
}

package rotation_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"keyport/keysvc"
	"keyport/keysvc/keysvctest"
	"keyport/keysvc/rotation"
	"keyport/models"
)

// kmsRotations lists a KMS key's rotations as the tenant's admin sees them.
func (e *schedEnv) kmsRotations(tb testing.TB, c *kms.Client, arn string) []types.RotationsListEntry {
	tb.Helper()
	out, err := c.ListKeyRotations(context.Background(), &kms.ListKeyRotationsInput{KeyId: aws.String(arn)})
	if err != nil {
		tb.Fatal(err)
	}
	return out.Rotations
}

// wrapMaterial is the KMS key material that wraps a data-key version in a
// region, as KMS reports it when the tenant's admin unwraps it.
func (e *schedEnv) wrapMaterial(tb testing.TB, c *kms.Client, k *models.Key, version int64, region string) string {
	tb.Helper()
	ctx := context.Background()
	ws, err := e.DB.DataKeyWraps(ctx, k.TenantID, k.ID, version)
	if err != nil {
		tb.Fatal(err)
	}
	for _, w := range ws {
		if w.Region != region {
			continue
		}
		out, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: w.Ciphertext, KeyId: aws.String(w.KMSKeyARN),
			EncryptionContext: keysvc.KMSContext(k.TenantID, k.ID)})
		if err != nil {
			tb.Fatal(err)
		}
		return aws.ToString(out.KeyMaterialId)
	}
	tb.Fatalf("no wrap of version %d in %s", version, region)
	return ""
}

// kmsAudits returns the key.kms_material_rotated events of a key.
func (e *schedEnv) kmsAudits(tb testing.TB, keyID string) []map[string]string {
	tb.Helper()
	evs, err := e.DB.AuditEvents(context.Background(), models.TenantScope(e.Tenant.ID),
		models.AuditFilter{Action: "key.kms_material_rotated", KeyID: keyID})
	if err != nil {
		tb.Fatal(err)
	}
	var out []map[string]string
	for _, ev := range evs {
		var d map[string]string
		if err := json.Unmarshal([]byte(ev.Details), &d); err != nil {
			tb.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

func keyARN(tb testing.TB, db *models.DB, k *models.Key) string {
	tb.Helper()
	rs, err := db.KeyRegions(context.Background(), k.TenantID, k.ID)
	if err != nil || len(rs) == 0 {
		tb.Fatalf("key regions: %v", err)
	}
	return rs[0].KMSKeyARN
}

// TestKMSRotationExplicit: "Rotate KMS key material now" rotates the KMS
// key's material once, then makes a data-key version wrapped under the new
// material; what was encrypted before still decrypts, and a second click
// from the same page does nothing more. A rotation the tenant made in AWS
// just before (the same instant on the test's clock) is not taken for it.
func TestKMSRotationExplicit(t *testing.T) {
	e := newSchedEnv(t, time.Time{})
	ctx := context.Background()
	k := e.Key(t, "ledger")
	arn := keyARN(t, e.DB, k)
	_, s, _ := e.process("p1")
	ec := map[string]string{"purpose": "kms-rotation"}
	before, err := e.Service.Encrypt(ctx, e.Tenant.ID, k.ID, []byte("before"), ec)
	if err != nil || before.Version != 1 {
		t.Fatalf("encrypt before: %+v %v", before, err)
	}

	if _, err := e.Admin.RotateKeyOnDemand(ctx, &kms.RotateKeyOnDemandInput{KeyId: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}

	res, err := s.RequestKMSRotation(ctx, e.Tenant.ID, k.ID, e.owner(), 1)
	if err != nil || res.State != models.JobDone || res.Version != 2 || res.Already {
		t.Fatalf("rotate kms material = %+v, %v", res, err)
	}
	rots := e.kmsRotations(t, e.Admin, arn)
	if len(rots) != 2 || rots[1].RotationType != types.RotationTypeOnDemand || rots[1].KeyMaterialState != types.KeyMaterialStateCurrent {
		t.Fatalf("KMS rotations = %+v, want the tenant's and keyport's ON_DEMAND rotations", rots)
	}
	if vs, _ := e.DB.DataKeyVersions(ctx, e.Tenant.ID, k.ID); len(vs) != 2 {
		t.Fatalf("data-key versions = %d, want 2", len(vs))
	}
	// The new data key is wrapped under the new material, the old one
	// under the material before it.
	newMat := aws.ToString(rots[1].KeyMaterialId)
	if got := e.wrapMaterial(t, e.Admin, k, 2, keysvctest.Region); got != newMat {
		t.Errorf("version 2 wrapped under material %q, want the new %q", got, newMat)
	}
	if got := e.wrapMaterial(t, e.Admin, k, 1, keysvctest.Region); got == newMat {
		t.Error("version 1 is wrapped under the new material")
	}

	// A cold replica decrypts the old ciphertext through KMS; new
	// encryptions use version 2.
	cold := e.NewService(keysvc.Config{})
	if d, err := cold.Decrypt(ctx, e.Tenant.ID, before.Ciphertext, ec); err != nil || string(d.Plaintext) != "before" || d.Version != 1 {
		t.Fatalf("decrypt old ciphertext: %+v %v", d, err)
	}
	after, err := e.Service.Encrypt(ctx, e.Tenant.ID, k.ID, []byte("after"), ec)
	if err != nil || after.Version != 2 {
		t.Fatalf("encrypt after: %+v %v", after, err)
	}
	if d, err := cold.Decrypt(ctx, e.Tenant.ID, after.Ciphertext, ec); err != nil || string(d.Plaintext) != "after" {
		t.Fatalf("decrypt new ciphertext: %+v %v", d, err)
	}

	audits := e.kmsAudits(t, k.ID)
	if len(audits) != 1 || audits[0]["region"] != keysvctest.Region || audits[0]["kms_key_arn"] != arn {
		t.Errorf("kms_material_rotated audit = %v", audits)
	}
	ns, _ := e.DB.KeyNotices(ctx, e.Tenant.ID, k.ID, 50)
	found := false
	for _, n := range ns {
		found = found || (n.Kind == models.NoticeRotated && strings.Contains(n.Detail, "KMS also rotated"))
	}
	if !found {
		t.Error("the rotated notice does not say KMS rotated the material")
	}

	// The same click again (a double click, a reload): nothing more.
	calls := e.KMS.Calls("RotateKeyOnDemand")
	res, err = s.RequestKMSRotation(ctx, e.Tenant.ID, k.ID, e.owner(), 1)
	if err != nil || !res.Already || res.Version != 2 {
		t.Fatalf("second click = %+v, %v", res, err)
	}
	if e.KMS.Calls("RotateKeyOnDemand") != calls || len(e.kmsRotations(t, e.Admin, arn)) != 2 {
		t.Error("a second click from the same version rotated KMS again")
	}

	// Keys whose material keyport holds rotate in place elsewhere.
	if err := e.DB.CreateKey(ctx, &models.NewKey{Key: models.Key{TenantID: e.Tenant.ID, ConnectionID: e.Conn.ID, Name: "generated",
		Mode: models.ModeGenerated, State: models.StateEnabled}, Regions: []models.KeyRegion{{Region: keysvctest.Region, KMSKeyARN: arn}}},
		models.AuditInput{Actor: e.Owner.ID, Action: "key.created"}); err != nil {
		t.Fatal(err)
	}
	ks, _ := e.DB.ListKeys(ctx, e.Tenant.ID)
	for _, gk := range ks {
		if gk.Mode != models.ModeGenerated {
			continue
		}
		s.SetRotator(models.ModeGenerated, e.Service)
		var ve *keysvc.ValidationError
		if _, err := s.RequestKMSRotation(ctx, e.Tenant.ID, gk.ID, e.owner(), 0); !errors.As(err, &ve) {
			t.Errorf("KMS rotation of a generated key: %v, want a validation error", err)
		}
	}
}

// TestKMSRotationRetriedOnce: a job that stops after KMS rotated the
// material (before or after the data key) is retried without rotating KMS
// again; throttling is retried too.
func TestKMSRotationRetriedOnce(t *testing.T) {
	cases := []struct {
		name     string
		crash    func(rotate func() error) error // runs the data-key step of the first attempt
		throttle bool
	}{
		{name: "stopped before the data key", crash: func(func() error) error { return errors.New("killed before the data key") }},
		{name: "stopped after the data key", crash: func(rotate func() error) error {
			if err := rotate(); err != nil {
				return err
			}
			return errors.New("killed after the data key")
		}},
		{name: "KMS throttled", throttle: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newSchedEnv(t, time.Time{})
			ctx := context.Background()
			k := e.Key(t, "orders")
			arn := keyARN(t, e.DB, k)
			w, s, _ := e.process("p1")
			attempts := 0
			s.SetRotator(models.ModeCMK, rotation.RotatorFunc(func(ctx context.Context, tenantID, keyID string, from int64, actor, reason string) (int64, error) {
				attempts++
				rotate := func() error {
					_, err := e.Service.RotateFrom(ctx, tenantID, keyID, from, actor, reason)
					return err
				}
				if attempts == 1 && tc.crash != nil {
					return 0, tc.crash(rotate)
				}
				return 0, rotate()
			}))
			if tc.throttle {
				e.KMS.FailNext("RotateKeyOnDemand", 1, "ThrottlingException")
			}
			// The request reports the failed attempt; the job retries it.
			_, err := s.RequestKMSRotation(ctx, e.Tenant.ID, k.ID, e.owner(), 1)
			var rf *rotation.RotationFailedError
			if !errors.As(err, &rf) || !errors.Is(err, rotation.ErrRotationRetrying) {
				t.Fatalf("first attempt = %v; want a failure waiting for its retry", err)
			}
			e.Clock.Advance(time.Hour) // past the backoff
			w.RunDue(ctx)
			j, err := e.DB.GetJob(ctx, rf.JobID)
			if err != nil || j.State != models.JobDone {
				t.Fatalf("job after the retry: %+v %v", j, err)
			}
			if rots := e.kmsRotations(t, e.Admin, arn); len(rots) != 1 {
				t.Errorf("KMS rotations = %d, want 1", len(rots))
			}
			wantCalls := 1
			if tc.throttle {
				wantCalls = 2 // the throttled call and the one that worked
			}
			if c := e.KMS.Calls("RotateKeyOnDemand"); c != wantCalls {
				t.Errorf("RotateKeyOnDemand calls = %d, want %d", c, wantCalls)
			}
			if vs, _ := e.DB.DataKeyVersions(ctx, e.Tenant.ID, k.ID); len(vs) != 2 {
				t.Errorf("data-key versions = %d, want 2", len(vs))
			}
			if a := e.kmsAudits(t, k.ID); len(a) != 1 {
				t.Errorf("kms_material_rotated audits = %v, want one", a)
			}
		})
	}
}

// TestKMSRotationRefused: when KMS refuses an explicit request, the
// request fails with keyport's words for why (never AWS's text), KMS and
// the data keys are as they were, and a later request can succeed. A
// policy's on-demand rotation, refused, still rotates the data key.
func TestKMSRotationRefused(t *testing.T) {
	e := newSchedEnv(t, time.Time{})
	ctx := context.Background()
	_, s, _ := e.process("p1")
	cases := []struct {
		name   string
		refuse func(t *testing.T, arn string)
		want   string
	}{
		{"key policy denies RotateKeyOnDemand", func(t *testing.T, arn string) {
			deny := strings.Replace(keysvctest.Policy(false), `]}`, `,{"Sid":"NoRotation","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::`+
				keysvctest.Account+`:user/keyport-access"},"Action":"kms:RotateKeyOnDemand","Resource":"*"}]}`, 1)
			if _, err := e.Admin.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: aws.String(arn), Policy: aws.String(deny)}); err != nil {
				t.Fatal(err)
			}
		}, "does not grant keyport kms:RotateKeyOnDemand"},
		{"on-demand rotation limit reached", func(*testing.T, string) {
			e.KMS.FailNext("RotateKeyOnDemand", 1, "LimitExceededException")
		}, "used all the on-demand rotations AWS allows"},
		{"KMS key disabled", func(t *testing.T, arn string) {
			if _, err := e.Admin.DisableKey(ctx, &kms.DisableKeyInput{KeyId: aws.String(arn)}); err != nil {
				t.Fatal(err)
			}
		}, "the KMS key is disabled"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k := e.Key(t, strings.ReplaceAll(tc.name, " ", "-"))
			arn := keyARN(t, e.DB, k)
			tc.refuse(t, arn)
			_, err := s.RequestKMSRotation(ctx, e.Tenant.ID, k.ID, e.owner(), 1)
			var ke *rotation.KMSMaterialError
			if !errors.As(err, &ke) || !strings.Contains(ke.Message, tc.want) || !strings.Contains(ke.Message, keysvctest.Region) {
				t.Fatalf("refused rotation: %v, want a KMSMaterialError saying %q", err, tc.want)
			}
			if strings.Contains(ke.Message, arn) || strings.Contains(ke.Message, "Exception") || strings.Contains(ke.Message, "limit of") {
				t.Errorf("the message carries AWS's text: %q", ke.Message)
			}
			if rots := e.kmsRotations(t, e.Admin, arn); len(rots) != 0 {
				t.Errorf("KMS rotations after a refusal = %d", len(rots))
			}
			if vs, _ := e.DB.DataKeyVersions(ctx, e.Tenant.ID, k.ID); len(vs) != 1 {
				t.Errorf("data-key versions after a refusal = %d, want 1", len(vs))
			}
			if a := e.kmsAudits(t, k.ID); len(a) != 0 {
				t.Errorf("audit after a refusal: %v", a)
			}
			if v, _ := e.DB.GetKey(ctx, e.Tenant.ID, k.ID); v.CurrentVersion != 1 {
				t.Errorf("current version after a refusal = %d", v.CurrentVersion)
			}

			// Once KMS allows it, the same request goes through.
			e.KMS.ClearFaults()
			e.Revoke(t, k, false)
			if _, err := e.Admin.EnableKey(ctx, &kms.EnableKeyInput{KeyId: aws.String(arn)}); err != nil {
				t.Fatal(err)
			}
			res, err := s.RequestKMSRotation(ctx, e.Tenant.ID, k.ID, e.owner(), 1)
			if err != nil || res.State != models.JobDone || res.Version != 2 {
				t.Fatalf("after KMS allows it: %+v %v", res, err)
			}
			if rots := e.kmsRotations(t, e.Admin, arn); len(rots) != 1 {
				t.Errorf("KMS rotations = %d, want 1", len(rots))
			}
		})
	}

	t.Run("policy-driven rotation still rotates the data key", func(t *testing.T) {
		k := e.Key(t, "policy-on-demand")
		if _, err := s.SetPolicy(ctx, e.Tenant.ID, k.ID, e.owner(), rotation.PolicyInput{PeriodDays: "90", NoticeDays: "7", Automatic: true,
			KMSRotateOnDemand: true}); err != nil {
			t.Fatal(err)
		}
		e.KMS.FailNext("RotateKeyOnDemand", 1, "LimitExceededException")
		res, err := s.RequestRotation(ctx, e.Tenant.ID, k.ID, e.owner(), 1)
		if err != nil || res.State != models.JobDone || res.Version != 2 {
			t.Fatalf("rotate now: %+v %v", res, err)
		}
		ns, _ := e.DB.KeyNotices(ctx, e.Tenant.ID, k.ID, 50)
		found := false
		for _, n := range ns {
			found = found || (n.Kind == models.NoticeRotated && strings.Contains(n.Detail, "used all the on-demand rotations") &&
				strings.Contains(n.Detail, "the data key was rotated"))
		}
		if !found {
			t.Errorf("the rotated notice does not report the refusal: %+v", ns)
		}
	})
}

// TestKMSRotationMultiRegion: only the primary of a multi-region key is
// rotated (KMS refuses replicas, and rotates them with the primary); the
// new data key is wrapped under the new material in both regions. A key
// with only a replica cannot have its material rotated from keyport.
func TestKMSRotationMultiRegion(t *testing.T) {
	const replicaRegion = "us-east-1"
	e := newSchedEnv(t, time.Time{})
	ctx := context.Background()
	_, s, _ := e.process("p1")
	out, err := e.Admin.CreateKey(ctx, &kms.CreateKeyInput{MultiRegion: aws.Bool(true), Policy: aws.String(keysvctest.Policy(false))})
	if err != nil {
		t.Fatal(err)
	}
	primaryARN := aws.ToString(out.KeyMetadata.Arn)
	rep, err := e.Admin.ReplicateKey(ctx, &kms.ReplicateKeyInput{KeyId: out.KeyMetadata.KeyId, ReplicaRegion: aws.String(replicaRegion),
		Policy: aws.String(keysvctest.Policy(false))})
	if err != nil {
		t.Fatal(err)
	}
	replicaARN := aws.ToString(rep.ReplicaKeyMetadata.Arn)
	replicaAdmin := kms.New(e.Admin.Options(), func(o *kms.Options) { o.Region = replicaRegion })
	newKey := func(name string, regions ...models.KeyRegion) *models.Key {
		nk := &models.NewKey{Key: models.Key{TenantID: e.Tenant.ID, ConnectionID: e.Conn.ID, Name: name, Mode: models.ModeCMK,
			State: models.StateEnabled, Health: "OK"}, Regions: regions}
		if err := e.DB.CreateKey(ctx, nk, models.AuditInput{Actor: e.Owner.ID, Action: "key.registered"}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Service.RotateDataKey(ctx, e.Tenant.ID, nk.Key.ID, e.Owner.ID, "register"); err != nil {
			t.Fatal(err)
		}
		return &nk.Key
	}
	k := newKey("global", models.KeyRegion{Region: keysvctest.Region, KMSKeyARN: primaryARN},
		models.KeyRegion{Region: replicaRegion, KMSKeyARN: replicaARN})

	res, err := s.RequestKMSRotation(ctx, e.Tenant.ID, k.ID, e.owner(), 1)
	if err != nil || res.State != models.JobDone || res.Version != 2 {
		t.Fatalf("rotate kms material: %+v %v", res, err)
	}
	if c := e.KMS.Calls("RotateKeyOnDemand"); c != 1 {
		t.Errorf("RotateKeyOnDemand calls = %d, want 1 (the primary only)", c)
	}
	rots := e.kmsRotations(t, e.Admin, primaryARN)
	if len(rots) != 1 {
		t.Fatalf("primary rotations = %d, want 1", len(rots))
	}
	newMat := aws.ToString(rots[0].KeyMaterialId)
	for region, c := range map[string]*kms.Client{keysvctest.Region: e.Admin, replicaRegion: replicaAdmin} {
		if got := e.wrapMaterial(t, c, k, 2, region); got != newMat {
			t.Errorf("version 2 in %s wrapped under %q, want the new material %q", region, got, newMat)
		}
	}
	if a := e.kmsAudits(t, k.ID); len(a) != 1 || a[0]["kms_key_arn"] != primaryARN {
		t.Errorf("kms_material_rotated audits = %v, want the primary's only", a)
	}

	only := newKey("replica-only", models.KeyRegion{Region: replicaRegion, KMSKeyARN: replicaARN})
	var ke *rotation.KMSMaterialError
	if _, err := s.RequestKMSRotation(ctx, e.Tenant.ID, only.ID, e.owner(), 1); !errors.As(err, &ke) || !strings.Contains(ke.Message, "replica") {
		t.Errorf("replica-only key: %v, want a KMSMaterialError about replicas", err)
	}
	if vs, _ := e.DB.DataKeyVersions(ctx, e.Tenant.ID, only.ID); len(vs) != 1 {
		t.Errorf("replica-only key has %d versions, want 1", len(vs))
	}
}

package kmslocal_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

func TestEnableKeyRotation(t *testing.T) {
	srv, clock := openServer(t)
	c := anyClient(t, srv)
	k := createKey(t, c, nil)
	tests := []struct {
		name    string
		period  *int32
		wantErr bool
	}{
		{"default period", nil, false},
		{"minimum", aws.Int32(90), false},
		{"maximum", aws.Int32(2560), false},
		{"too short", aws.Int32(89), true},
		{"too long", aws.Int32(2561), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.EnableKeyRotation(ctx(), &kms.EnableKeyRotationInput{KeyId: k.KeyId, RotationPeriodInDays: tt.period})
			if tt.wantErr {
				wantCode(t, err, "ValidationException")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			st, err := c.GetKeyRotationStatus(ctx(), &kms.GetKeyRotationStatusInput{KeyId: k.KeyId})
			if err != nil {
				t.Fatal(err)
			}
			want := aws.ToInt32(tt.period)
			if want == 0 {
				want = 365
			}
			if !st.KeyRotationEnabled || aws.ToInt32(st.RotationPeriodInDays) != want || !st.NextRotationDate.Equal(clock.Now().Add(time.Duration(want)*24*time.Hour)) {
				t.Fatalf("status = %v %v %v", st.KeyRotationEnabled, aws.ToInt32(st.RotationPeriodInDays), st.NextRotationDate)
			}
		})
	}
	t.Run("disable", func(t *testing.T) {
		if _, err := c.DisableKeyRotation(ctx(), &kms.DisableKeyRotationInput{KeyId: k.KeyId}); err != nil {
			t.Fatal(err)
		}
		st, _ := c.GetKeyRotationStatus(ctx(), &kms.GetKeyRotationStatusInput{KeyId: k.KeyId})
		if st.KeyRotationEnabled {
			t.Fatal("rotation still enabled")
		}
	})
	t.Run("not for EXTERNAL keys", func(t *testing.T) {
		ext := createKey(t, c, &kms.CreateKeyInput{Origin: types.OriginTypeExternal})
		_, err := c.EnableKeyRotation(ctx(), &kms.EnableKeyRotationInput{KeyId: ext.KeyId})
		wantErr[*types.UnsupportedOperationException](t, err)
	})
}

func TestAutomaticRotation(t *testing.T) {
	srv, clock := openServer(t)
	c := anyClient(t, srv)
	k := createKey(t, c, nil)
	if _, err := c.EnableKeyRotation(ctx(), &kms.EnableKeyRotationInput{KeyId: k.KeyId, RotationPeriodInDays: aws.Int32(90)}); err != nil {
		t.Fatal(err)
	}
	before := encrypt(t, c, *k.KeyId, []byte("v1"), nil)
	clock.Advance(90 * 24 * time.Hour)
	after := encrypt(t, c, *k.KeyId, []byte("v2"), nil)
	if materialOf(t, c, before) == materialOf(t, c, after) {
		t.Fatal("no new material after the rotation period")
	}
	rot, err := c.ListKeyRotations(ctx(), &kms.ListKeyRotationsInput{KeyId: k.KeyId})
	if err != nil {
		t.Fatal(err)
	}
	if len(rot.Rotations) != 1 || rot.Rotations[0].RotationType != types.RotationTypeAutomatic || !rot.Rotations[0].RotationDate.Equal(t0.Add(90*24*time.Hour)) {
		t.Fatalf("rotations = %+v", rot.Rotations)
	}
	st, _ := c.GetKeyRotationStatus(ctx(), &kms.GetKeyRotationStatusInput{KeyId: k.KeyId})
	if !st.NextRotationDate.Equal(clock.Now().Add(90 * 24 * time.Hour)) {
		t.Fatalf("NextRotationDate = %v", st.NextRotationDate)
	}
}

func TestRotateKeyOnDemand(t *testing.T) {
	srv, _ := openServer(t)
	c := anyClient(t, srv)
	k := createKey(t, c, nil)
	ec := map[string]string{"tenant": "t1"}
	var blobs [][]byte
	for i := range 25 {
		blobs = append(blobs, encrypt(t, c, *k.KeyId, []byte{byte(i)}, ec))
		out, err := c.RotateKeyOnDemand(ctx(), &kms.RotateKeyOnDemandInput{KeyId: k.KeyId})
		if err != nil {
			t.Fatalf("rotation %d: %v", i+1, err)
		}
		if *out.KeyId != *k.Arn {
			t.Fatalf("RotateKeyOnDemand KeyId = %s", *out.KeyId)
		}
	}
	_, err := c.RotateKeyOnDemand(ctx(), &kms.RotateKeyOnDemandInput{KeyId: k.KeyId})
	wantErr[*types.LimitExceededException](t, err)
	for i, b := range blobs {
		if got := decrypt(t, c, b, ec); len(got) != 1 || got[0] != byte(i) {
			t.Fatalf("ciphertext %d decrypts to %v", i, got)
		}
	}
	all, err := c.ListKeyRotations(ctx(), &kms.ListKeyRotationsInput{KeyId: k.KeyId, IncludeKeyMaterial: types.IncludeKeyMaterialAllKeyMaterial})
	if err != nil {
		t.Fatal(err)
	}
	current := 0
	for _, r := range all.Rotations {
		if r.KeyMaterialState == types.KeyMaterialStateCurrent {
			current++
		}
	}
	if len(all.Rotations) != 26 || current != 1 {
		t.Fatalf("%d materials, %d current; want 26 and 1", len(all.Rotations), current)
	}
	p := kms.NewListKeyRotationsPaginator(c, &kms.ListKeyRotationsInput{KeyId: k.KeyId, Limit: aws.Int32(10)})
	n := 0
	for p.HasMorePages() {
		out, err := p.NextPage(ctx())
		if err != nil {
			t.Fatal(err)
		}
		n += len(out.Rotations)
	}
	if n != 25 {
		t.Fatalf("paginated rotations = %d, want 25", n)
	}
	t.Run("disabled key", func(t *testing.T) {
		d := createKey(t, c, nil)
		if _, err := c.DisableKey(ctx(), &kms.DisableKeyInput{KeyId: d.KeyId}); err != nil {
			t.Fatal(err)
		}
		_, err := c.RotateKeyOnDemand(ctx(), &kms.RotateKeyOnDemandInput{KeyId: d.KeyId})
		wantErr[*types.DisabledException](t, err)
	})
}

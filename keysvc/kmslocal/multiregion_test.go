package kmslocal_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

const replicaRegion = "us-east-1"

func TestReplicateKey(t *testing.T) {
	srv, _ := openServer(t)
	primary := anyClient(t, srv)
	replica := kmsClient(t, srv, replicaRegion, "AKIDANY", "x")
	k := createKey(t, primary, &kms.CreateKeyInput{MultiRegion: aws.Bool(true), Description: aws.String("mrk")})
	out, err := primary.ReplicateKey(ctx(), &kms.ReplicateKeyInput{KeyId: k.KeyId, ReplicaRegion: aws.String(replicaRegion),
		Tags: []types.Tag{{TagKey: aws.String("r"), TagValue: aws.String("1")}}})
	if err != nil {
		t.Fatal(err)
	}
	rmd := out.ReplicaKeyMetadata
	if *rmd.KeyId != *k.KeyId || *rmd.Arn != "arn:aws:kms:us-east-1:111122223333:key/"+*k.KeyId || len(out.ReplicaTags) != 1 || out.ReplicaPolicy == nil {
		t.Fatalf("replica = %s %s tags=%d", *rmd.KeyId, *rmd.Arn, len(out.ReplicaTags))
	}
	pmd := describe(t, primary, *k.KeyId)
	cfg := pmd.MultiRegionConfiguration
	if cfg.MultiRegionKeyType != types.MultiRegionKeyTypePrimary || len(cfg.ReplicaKeys) != 1 || *cfg.ReplicaKeys[0].Region != replicaRegion {
		t.Fatalf("primary config = %+v", cfg)
	}
	rcfg := describe(t, replica, *k.KeyId).MultiRegionConfiguration
	if rcfg.MultiRegionKeyType != types.MultiRegionKeyTypeReplica || *rcfg.PrimaryKey.Region != region || *rcfg.PrimaryKey.Arn != *k.Arn {
		t.Fatalf("replica config = %+v", rcfg)
	}

	ec := map[string]string{"tenant": "t1"}
	blob := encrypt(t, primary, *k.KeyId, []byte("anywhere"), ec)
	if got := decrypt(t, replica, blob, ec); string(got) != "anywhere" {
		t.Fatalf("replica decrypt = %q", got)
	}
	back := encrypt(t, replica, *k.KeyId, []byte("back"), ec)
	decrypt(t, primary, back, ec)

	// Rotation of the primary reaches the replica.
	if _, err := primary.RotateKeyOnDemand(ctx(), &kms.RotateKeyOnDemandInput{KeyId: k.KeyId}); err != nil {
		t.Fatal(err)
	}
	decrypt(t, replica, encrypt(t, primary, *k.KeyId, []byte("rotated"), ec), ec)
	_, err = replica.RotateKeyOnDemand(ctx(), &kms.RotateKeyOnDemandInput{KeyId: k.KeyId})
	wantErr[*types.UnsupportedOperationException](t, err)

	single := createKey(t, primary, nil)
	errs := []struct {
		name  string
		c     *kms.Client
		in    kms.ReplicateKeyInput
		check func(testing.TB, error)
	}{
		{"single-region key", primary, kms.ReplicateKeyInput{KeyId: single.KeyId, ReplicaRegion: aws.String(replicaRegion)}, wantErr[*types.UnsupportedOperationException]},
		{"already replicated", primary, kms.ReplicateKeyInput{KeyId: k.KeyId, ReplicaRegion: aws.String(replicaRegion)}, wantErr[*types.AlreadyExistsException]},
		{"same region", primary, kms.ReplicateKeyInput{KeyId: k.KeyId, ReplicaRegion: aws.String(region)}, func(tb testing.TB, err error) { wantCode(tb, err, "ValidationException") }},
		{"from a replica", replica, kms.ReplicateKeyInput{KeyId: k.KeyId, ReplicaRegion: aws.String("ap-south-1")}, wantErr[*types.UnsupportedOperationException]},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.c.ReplicateKey(ctx(), &tt.in)
			tt.check(t, err)
		})
	}
}

func TestPrimaryDeletionWaitsForReplicas(t *testing.T) {
	srv, clock := openServer(t)
	primary := anyClient(t, srv)
	replica := kmsClient(t, srv, replicaRegion, "AKIDANY", "x")
	k := createKey(t, primary, &kms.CreateKeyInput{MultiRegion: aws.Bool(true)})
	if _, err := primary.ReplicateKey(ctx(), &kms.ReplicateKeyInput{KeyId: k.KeyId, ReplicaRegion: aws.String(replicaRegion)}); err != nil {
		t.Fatal(err)
	}
	out, err := primary.ScheduleKeyDeletion(ctx(), &kms.ScheduleKeyDeletionInput{KeyId: k.KeyId, PendingWindowInDays: aws.Int32(7)})
	if err != nil {
		t.Fatal(err)
	}
	if out.KeyState != types.KeyStatePendingReplicaDeletion || out.DeletionDate != nil {
		t.Fatalf("primary with replica: %s %v", out.KeyState, out.DeletionDate)
	}
	if _, err := replica.ScheduleKeyDeletion(ctx(), &kms.ScheduleKeyDeletionInput{KeyId: k.KeyId, PendingWindowInDays: aws.Int32(7)}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(7 * 24 * time.Hour)
	_, err = replica.DescribeKey(ctx(), &kms.DescribeKeyInput{KeyId: k.KeyId})
	wantErr[*types.NotFoundException](t, err)
	md := describe(t, primary, *k.KeyId)
	if md.KeyState != types.KeyStatePendingDeletion || !md.DeletionDate.Equal(clock.Now().Add(7*24*time.Hour)) {
		t.Fatalf("primary after replica deletion: %s %v", md.KeyState, md.DeletionDate)
	}
}

func TestExternalMultiRegionReplica(t *testing.T) {
	srv, _ := openServer(t)
	primary := anyClient(t, srv)
	replica := kmsClient(t, srv, replicaRegion, "AKIDANY", "x")
	k := createKey(t, primary, &kms.CreateKeyInput{MultiRegion: aws.Bool(true), Origin: types.OriginTypeExternal})
	material := randomMaterial(t)
	if err := importMaterial(t, primary, *k.KeyId, material, nil); err != nil {
		t.Fatal(err)
	}
	out, err := primary.ReplicateKey(ctx(), &kms.ReplicateKeyInput{KeyId: k.KeyId, ReplicaRegion: aws.String(replicaRegion)})
	if err != nil {
		t.Fatal(err)
	}
	if out.ReplicaKeyMetadata.KeyState != types.KeyStatePendingImport {
		t.Fatalf("EXTERNAL replica state = %s, want PendingImport", out.ReplicaKeyMetadata.KeyState)
	}
	wantErr[*types.IncorrectKeyMaterialException](t, importMaterial(t, replica, *k.KeyId, randomMaterial(t), nil))
	if err := importMaterial(t, replica, *k.KeyId, material, nil); err != nil {
		t.Fatal(err)
	}
	decrypt(t, replica, encrypt(t, primary, *k.KeyId, []byte("x"), nil), nil)
}

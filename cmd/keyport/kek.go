package main

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"keyport/keysvc/seal"
	"keyport/models"
)

// addPreviousKEK gives the sealer the KEK being rotated away from
// (KEYPORT_KEK_PREVIOUS_FILE), so that blobs still sealed under it open
// while everything new is sealed under the current KEK.
func addPreviousKEK(sealer *seal.Sealer, cfg *config) error {
	if cfg.KEKPreviousFile == "" {
		return nil
	}
	prev, err := seal.LoadOrCreateKEKFile(cfg.KEKPreviousFile, false)
	if err != nil {
		return &configError{"KEYPORT_KEK_PREVIOUS_FILE", err.Error()}
	}
	defer clear(prev)
	if err := sealer.AddPrevious(prev); err != nil {
		return &configError{"KEYPORT_KEK_PREVIOUS_FILE", err.Error()}
	}
	return nil
}

const kekUsage = "usage: keyport kek rotate"

// kekCommand runs "keyport kek ...".
func kekCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) != 1 || args[0] != "rotate" {
		return badUsage("kek rotate", kekUsage)
	}
	cfg, err := loadCommandConfig(getenv)
	if err != nil {
		return err
	}
	return kekRotate(ctx, cfg, stdout)
}

// kekRotate re-seals every sealed secret under the current KEK and says
// whether the previous one can now be removed. It runs beside serving
// replicas (they must already hold both KEKs); stopped part way, it is
// simply run again.
func kekRotate(ctx context.Context, cfg *config, stdout io.Writer) error {
	log := newLogger(cfg, io.Discard)
	db, sealer, err := openStoreWithSealer(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer db.Close()
	defer sealer.Close()

	prev := sealer.PreviousKeyIDs()
	fmt.Fprintf(stdout, "re-sealing under kek %s", sealer.KeyID())
	if len(prev) > 0 {
		fmt.Fprintf(stdout, " (opening kek %s too)", prev[0])
	}
	fmt.Fprintln(stdout)
	rep, err := seal.RotateKEK(ctx, db, sealer, nil)
	if rep != nil {
		for _, c := range rep.Columns {
			fmt.Fprintf(stdout, "  %-30s scanned %d, re-sealed %d, already current %d, skipped %d, failed %d\n",
				c.Column, c.Scanned, c.Resealed, c.Current, c.Skipped, c.Failed)
		}
	}
	if err != nil {
		return fmt.Errorf("kek rotate stopped (run it again to resume): %w", err)
	}
	t := rep.Total()
	if _, aerr := db.AppendAudit(ctx, models.AuditInput{Actor: "keyport kek rotate", Action: "kek.rotated",
		TargetType: "kek", TargetID: rep.KEKID, Details: map[string]string{
			"resealed": strconv.Itoa(t.Resealed), "already_current": strconv.Itoa(t.Current), "failed": strconv.Itoa(t.Failed)}}); aerr != nil {
		return fmt.Errorf("record kek rotation: %w", aerr)
	}
	if !rep.Done() {
		for _, f := range rep.Failures {
			fmt.Fprintln(stdout, "  did not open: "+f)
		}
		return fmt.Errorf("%d sealed values did not open: keep KEYPORT_KEK_PREVIOUS_FILE and check that it holds the KEK they were sealed under", t.Failed)
	}
	fmt.Fprintf(stdout, "done: %d re-sealed, %d already under kek %s; every sealed secret now opens with the current KEK alone\n",
		t.Resealed, t.Current, rep.KEKID)
	if len(prev) > 0 {
		fmt.Fprintln(stdout, "next: remove KEYPORT_KEK_PREVIOUS_FILE from every replica, restart them, then destroy the old KEK file")
	}
	return nil
}

package models

import (
	"context"
	"fmt"
)

// AuditActor names who an audit event's actor (or user target) is: a
// person by name and email, an API key or a service token by its name.
type AuditActor struct {
	Kind  string // ActorUser, ActorAPIKey or ActorServiceToken
	Name  string
	Email string // people only
}

// AuditActors names the people, API keys and service tokens among ids (the
// actors of one page of audit events): three queries whatever the page.
// API keys and service tokens are named only when they belong to tenantID
// (service tokens also when provider-wide); tenantID "" names every one,
// for operators. Ids not found are absent.
func (db *DB) AuditActors(ctx context.Context, tenantID string, ids []string) (map[string]AuditActor, error) {
	out := map[string]AuditActor{}
	if len(ids) == 0 {
		return out, nil
	}
	g := db.reader(ctx)
	var users []User
	if err := g.Table("users").Select("id, email, name").Where("id IN ?", ids).Find(&users).Error; err != nil {
		return nil, fmt.Errorf("audit actors: %w", mapErr(err))
	}
	for _, u := range users {
		out[u.ID] = AuditActor{Kind: ActorUser, Name: u.Name, Email: u.Email}
	}
	var named []struct{ ID, Name string }
	q := g.Table("api_keys").Select("id, name").Where("id IN ?", ids)
	if tenantID != "" {
		q = q.Where("tenant_id = ?", tenantID)
	}
	if err := q.Scan(&named).Error; err != nil {
		return nil, fmt.Errorf("audit actors: %w", mapErr(err))
	}
	for _, k := range named {
		out[k.ID] = AuditActor{Kind: ActorAPIKey, Name: k.Name}
	}
	named = named[:0]
	q = g.Table("service_tokens").Select("id, name").Where("id IN ?", ids)
	if tenantID != "" {
		q = q.Where("tenant_id = ? OR tenant_id = ''", tenantID)
	}
	if err := q.Scan(&named).Error; err != nil {
		return nil, fmt.Errorf("audit actors: %w", mapErr(err))
	}
	for _, t := range named {
		out[t.ID] = AuditActor{Kind: ActorServiceToken, Name: t.Name}
	}
	return out, nil
}

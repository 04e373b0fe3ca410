package models

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// KeyPageSize is how many keys one page of the keys list holds.
const KeyPageSize = 50

// Key list sort orders (KeyListQuery.Sort).
const (
	KeySortName         = "name"
	KeySortStatus       = "status"
	KeySortNextRotation = "next_rotation"
	KeySortLastUsed     = "last_used"
)

// KeyListQuery selects one page of a tenant's keys. Search, order and
// paging all happen in SQL, so a page costs the same at ten keys as at ten
// thousand.
type KeyListQuery struct {
	// Search is a case-insensitive substring of the key's name, id, alias
	// or the ARN of any of its KMS keys; "" matches every key.
	Search string
	Sort   string // one of the KeySort* orders; "" or unknown = name
	Desc   bool
	Page   int // 1-based; below 1 means 1
}

// KeyListRow is one key of the keys list with what the list shows beside
// its name: the store and alias of a key whose material keyport holds, its
// next rotation, and the expiry of its active material.
type KeyListRow struct {
	Key
	StoreID        string
	StoreName      string
	AliasName      string
	Held           bool // keyport keeps the material; nothing in KMS
	NextRotationAt *time.Time
	MaterialExpiry *time.Time
}

// KeyListPage is one page of keys and how many keys match in all.
type KeyListPage struct {
	Rows  []KeyListRow
	Total int64
	Page  int // the page returned, clamped to the last one
	Pages int // at least 1
}

// keyStatusRank orders keys by their status, those that need someone
// first: broken KMS access, then not checked, expiring material is ranked
// with active (the rank is computed in SQL, the label in views).
const keyStatusRank = `CASE
	WHEN k.state = 'PENDING_DELETION' THEN 1
	WHEN k.state = 'DISABLED' THEN 2
	WHEN k.state = 'PENDING' THEN 4
	WHEN k.state = 'DELETED' THEN 6
	WHEN k.health = 'UNKNOWN' THEN 3
	WHEN k.health = 'OK' THEN 5
	ELSE 0 END`

// keyListScan is a page row with the number of rows the search matches
// (a window count: the page and the total in one statement).
type keyListScan struct {
	KeyListRow
	TotalRows int64
}

// KeyList returns one page of a tenant's keys with the number of keys the
// search matches: one statement (two more only for a page past the end),
// whatever the number of keys. Regions and last use of the page's keys
// come from KeyRegionsOf and KeyLastUse, one query each.
func (db *DB) KeyList(ctx context.Context, tenantID string, q KeyListQuery) (KeyListPage, error) {
	like := ""
	if s := strings.ToLower(strings.TrimSpace(q.Search)); s != "" {
		like = "%" + likeEscaper.Replace(s) + "%"
	}
	base := func() *gorm.DB {
		g := db.g.WithContext(ctx).Table("keys AS k").
			Joins("LEFT JOIN managed_keys AS m ON m.key_id = k.id AND m.tenant_id = k.tenant_id").
			Where("k.tenant_id = ?", tenantID)
		if like == "" {
			return g
		}
		return g.Where(`(lower(k.name) LIKE ? ESCAPE '\' OR lower(k.id) LIKE ? ESCAPE '\' OR lower(COALESCE(m.alias_name, '')) LIKE ? ESCAPE '\'
			OR EXISTS (SELECT 1 FROM key_regions r WHERE r.key_id = k.id AND lower(r.kms_key_arn) LIKE ? ESCAPE '\'))`, like, like, like, like)
	}
	dir := "ASC"
	if q.Desc {
		dir = "DESC"
	}
	// NULLs (never rotated, never used) go last in both directions, on
	// SQLite (3.30+) as on PostgreSQL; the name then the id break ties so
	// pages never overlap.
	var order string
	switch q.Sort {
	case KeySortStatus:
		order = keyStatusRank + " " + dir + ", lower(k.name), k.id"
	case KeySortNextRotation:
		order = "p.next_rotation_at " + dir + " NULLS LAST, lower(k.name), k.id"
	case KeySortLastUsed:
		order = "lu.last_used " + dir + " NULLS LAST, lower(k.name), k.id"
	default:
		order = "lower(k.name) " + dir + ", k.id " + dir
	}
	// The inner query orders and counts the matching keys touching only
	// what the search and the order need; the outer one reads the details
	// of the page's keys alone.
	read := func(page int) ([]keyListScan, error) {
		inner := base().Select("k.id AS id, COUNT(*) OVER () AS total_rows, ROW_NUMBER() OVER (ORDER BY " + order + ") AS rn").
			Joins("LEFT JOIN rotation_policies AS p ON p.key_id = k.id")
		if q.Sort == KeySortLastUsed { // one pass over the tenant's versions
			inner = inner.Joins(`LEFT JOIN (SELECT v.key_id, MAX(v.last_used_at) AS last_used FROM data_key_versions v
				JOIN keys AS vk ON vk.id = v.key_id WHERE vk.tenant_id = ? GROUP BY v.key_id) AS lu ON lu.key_id = k.id`, tenantID)
		}
		inner = inner.Order("rn").Limit(KeyPageSize).Offset((page - 1) * KeyPageSize)
		var rows []keyListScan
		err := db.g.WithContext(ctx).Table("(?) AS pg", inner).
			Select(`k.*, m.store_id AS store_id, s.name AS store_name, m.alias_name AS alias_name, COALESCE(m.held, FALSE) AS held,
				p.next_rotation_at AS next_rotation_at, km.valid_to AS material_expiry, pg.total_rows AS total_rows`).
			Joins("JOIN keys AS k ON k.id = pg.id").
			Joins("LEFT JOIN managed_keys AS m ON m.key_id = k.id AND m.tenant_id = k.tenant_id").
			Joins("LEFT JOIN key_stores AS s ON s.id = m.store_id").
			Joins("LEFT JOIN rotation_policies AS p ON p.key_id = k.id").
			Joins("LEFT JOIN key_materials AS km ON km.key_id = k.id AND km.state = ? AND km.valid_to IS NOT NULL", MaterialActive).
			Order("pg.rn").Scan(&rows).Error
		return rows, err
	}
	out := KeyListPage{Page: max(q.Page, 1)}
	rows, err := read(out.Page)
	if err == nil && len(rows) == 0 && out.Page > 1 { // past the end: show the last page
		if err = base().Count(&out.Total).Error; err == nil && out.Total > 0 {
			out.Page = int((out.Total + KeyPageSize - 1) / KeyPageSize)
			rows, err = read(out.Page)
		}
	}
	if err != nil {
		return out, fmt.Errorf("list keys: %w", mapErr(err))
	}
	if len(rows) > 0 {
		out.Total = rows[0].TotalRows
	}
	out.Pages = max(int((out.Total+KeyPageSize-1)/KeyPageSize), 1)
	out.Page = min(out.Page, out.Pages)
	for _, r := range rows {
		fixKeyTimes(&r.Key)
		r.NextRotationAt, r.MaterialExpiry = tsPtr(r.NextRotationAt), tsPtr(r.MaterialExpiry)
		out.Rows = append(out.Rows, r.KeyListRow)
	}
	return out, nil
}

// KeyRegionsOf returns the KMS keys of some of a tenant's keys, by key id,
// primary first: one query for a page of keys.
func (db *DB) KeyRegionsOf(ctx context.Context, tenantID string, keyIDs []string) (map[string][]KeyRegion, error) {
	out := map[string][]KeyRegion{}
	if len(keyIDs) == 0 {
		return out, nil
	}
	var rs []KeyRegion
	err := db.g.WithContext(ctx).Table("key_regions AS r").Select("r.*").
		Joins("JOIN keys k ON k.id = r.key_id").Where("k.tenant_id = ? AND r.key_id IN ?", tenantID, keyIDs).
		Order("r.key_id, r.priority").Find(&rs).Error
	if err != nil {
		return nil, fmt.Errorf("key regions: %w", mapErr(err))
	}
	for _, r := range rs {
		out[r.KeyID] = append(out[r.KeyID], r)
	}
	return out, nil
}

// KeyLastUse returns when each of some of a tenant's keys last encrypted
// or decrypted (keys never used are absent): one query for a page of keys.
func (db *DB) KeyLastUse(ctx context.Context, tenantID string, keyIDs []string) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	if len(keyIDs) == 0 {
		return out, nil
	}
	// Rows, not MAX(): SQLite returns an aggregate's time as text.
	var rows []struct {
		KeyID      string
		LastUsedAt time.Time
	}
	err := db.g.WithContext(ctx).Table("data_key_versions AS v").Select("v.key_id, v.last_used_at").
		Joins("JOIN keys k ON k.id = v.key_id").
		Where("k.tenant_id = ? AND v.key_id IN ? AND v.last_used_at IS NOT NULL", tenantID, keyIDs).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("key last use: %w", mapErr(err))
	}
	for _, r := range rows {
		if at := r.LastUsedAt.UTC(); at.After(out[r.KeyID]) {
			out[r.KeyID] = at
		}
	}
	return out, nil
}

// ConnectionKey is a key and the connection it uses.
type ConnectionKey struct {
	ConnectionID string
	KeyID        string
	Name         string
}

// ConnectionKeys counts the tenant's keys that are not deleted by the
// connection they use, and names the first few of each by name: two
// queries for the connections list, however many keys there are.
func (db *DB) ConnectionKeys(ctx context.Context, tenantID string, names int) (map[string]int, map[string][]ConnectionKey, error) {
	g := db.g.WithContext(ctx)
	var counts []struct {
		ConnectionID string
		N            int
	}
	if err := g.Table("keys").Select("connection_id, COUNT(*) AS n").Where("tenant_id = ? AND state <> ?", tenantID, StateDeleted).
		Group("connection_id").Scan(&counts).Error; err != nil {
		return nil, nil, fmt.Errorf("connection keys: %w", mapErr(err))
	}
	var rows []ConnectionKey
	err := g.Raw(`SELECT connection_id, key_id, name FROM (
			SELECT connection_id, id AS key_id, name, ROW_NUMBER() OVER (PARTITION BY connection_id ORDER BY lower(name), id) AS n
			FROM keys WHERE tenant_id = ? AND state <> ?) AS ranked
		WHERE n <= ? ORDER BY connection_id, n`, tenantID, StateDeleted, names).Scan(&rows).Error
	if err != nil {
		return nil, nil, fmt.Errorf("connection keys: %w", mapErr(err))
	}
	n := make(map[string]int, len(counts))
	for _, c := range counts {
		n[c.ConnectionID] = c.N
	}
	out := map[string][]ConnectionKey{}
	for _, r := range rows {
		out[r.ConnectionID] = append(out[r.ConnectionID], r)
	}
	return n, out, nil
}

// KeyName is a key's id and name.
type KeyName struct {
	ID   string
	Name string
}

// KeyNames lists at most limit of a tenant's keys by name (for a filter's
// choices) and whether there are more.
func (db *DB) KeyNames(ctx context.Context, tenantID string, limit int) ([]KeyName, bool, error) {
	var out []KeyName
	err := db.g.WithContext(ctx).Table("keys").Select("id, name").Where("tenant_id = ?", tenantID).
		Order("lower(name), id").Limit(limit + 1).Scan(&out).Error
	if err != nil {
		return nil, false, fmt.Errorf("key names: %w", mapErr(err))
	}
	if len(out) > limit {
		return out[:limit], true, nil
	}
	return out, false, nil
}

// KeyNamesOf names some of a tenant's keys, by id (ids of other tenants'
// keys or of none are absent): one query for a page of audit events.
func (db *DB) KeyNamesOf(ctx context.Context, tenantID string, ids []string) (map[string]string, error) {
	out := map[string]string{}
	if len(ids) == 0 {
		return out, nil
	}
	var rows []KeyName
	err := db.g.WithContext(ctx).Table("keys").Select("id, name").Where("tenant_id = ? AND id IN ?", tenantID, ids).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("key names: %w", mapErr(err))
	}
	for _, r := range rows {
		out[r.ID] = r.Name
	}
	return out, nil
}

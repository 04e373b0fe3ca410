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

// lastUsedOf is when the key k last encrypted or decrypted: one index
// look-up per key, so a page sorted by it needs no pass that groups every
// version of the tenant first.
const lastUsedOf = `(SELECT MAX(v.last_used_at) FROM data_key_versions v WHERE v.key_id = k.id)`

// KeyList returns one page of a tenant's keys with the number of keys the
// search matches: two statements (the count, then the page), whatever the
// number of keys. Sorted by name, the page is read off the
// (tenant_id, lower(name)) index, even far down the list. Regions and
// last use of the page's keys come from KeyRegionsOf and KeyLastUse, one
// query each.
func (db *DB) KeyList(ctx context.Context, tenantID string, q KeyListQuery) (KeyListPage, error) {
	like := ""
	if s := strings.ToLower(strings.TrimSpace(q.Search)); s != "" {
		like = "%" + likeEscaper.Replace(s) + "%"
	}
	base := func() *gorm.DB {
		g := db.reader(ctx).Table("keys AS k").Where("k.tenant_id = ?", tenantID)
		if like == "" {
			return g
		}
		// On SQLite, LIKE already ignores the case of ASCII letters and
		// lower() folds nothing else, so lower() would only cost a copy of
		// every string of every key the search reads. The ARNs come off
		// the (key_id, kms_key_arn) index, not the region rows.
		lower, lowerASCII := func(col string) string { return col }, func(col string) string { return col }
		if db.isPostgres() {
			lower = func(col string) string { return "lower(" + col + ")" }
			// Ids, aliases and ARNs are ASCII (keyport's ids, KMS's
			// formats): lower() under the C collation folds the same
			// letters, several times faster than the database's locale.
			lowerASCII = func(col string) string { return "lower(" + col + ` COLLATE "C")` }
		}
		return g.Joins("LEFT JOIN managed_keys AS m ON m.key_id = k.id AND m.tenant_id = k.tenant_id").
			Where(`(`+lower("k.name")+` LIKE ? ESCAPE '\' OR `+lowerASCII("k.id")+` LIKE ? ESCAPE '\' OR `+lower("COALESCE(m.alias_name, '')")+` LIKE ? ESCAPE '\'
			OR EXISTS (SELECT 1 FROM key_regions r WHERE r.key_id = k.id AND `+lowerASCII("r.kms_key_arn")+` LIKE ? ESCAPE '\'))`, like, like, like, like)
	}
	dir := "ASC"
	if q.Desc {
		dir = "DESC"
	}
	// NULLs (never rotated, never used) go last in both directions, on
	// SQLite (3.30+) as on PostgreSQL; the name then breaks ties, and
	// names are unique in a tenant ignoring case (keys_tenant_lower_name_key),
	// so pages never overlap.
	var order string
	switch q.Sort {
	case KeySortStatus:
		order = keyStatusRank + " " + dir + ", lower(k.name)"
	case KeySortNextRotation:
		order = "p.next_rotation_at " + dir + " NULLS LAST, lower(k.name)"
	case KeySortLastUsed:
		order = lastUsedOf + " " + dir + " NULLS LAST, lower(k.name)"
	default:
		order = "lower(k.name) " + dir
	}
	out := KeyListPage{Page: max(q.Page, 1)}
	ordered := func() *gorm.DB {
		g := base().Select("k.id AS id").Order(order)
		if q.Sort == KeySortNextRotation {
			g = g.Joins("LEFT JOIN rotation_policies AS p ON p.key_id = k.id")
		}
		return g
	}
	var inner any
	if like == "" {
		if err := base().Count(&out.Total).Error; err != nil {
			return out, fmt.Errorf("list keys: %w", mapErr(err))
		}
	} else {
		// A search cannot use an index: it scans once for the matching
		// ids in order (the count is how many), not once to count and
		// again for the page.
		var ids []string
		if err := ordered().Pluck("k.id", &ids).Error; err != nil {
			return out, fmt.Errorf("list keys: %w", mapErr(err))
		}
		out.Total = int64(len(ids))
		from := min((max(q.Page, 1)-1)*KeyPageSize, max((len(ids)-1)/KeyPageSize, 0)*KeyPageSize)
		inner = ids[from:min(from+KeyPageSize, len(ids))]
	}
	out.Pages = max(int((out.Total+KeyPageSize-1)/KeyPageSize), 1)
	out.Page = min(out.Page, out.Pages) // past the end: the last page
	if out.Total == 0 {
		return out, nil
	}
	// The inner query orders the matching keys touching only what the
	// search and the order need; the outer one reads the details of the
	// page's keys alone, in the same order.
	if inner == nil {
		inner = ordered().Limit(KeyPageSize).Offset((out.Page - 1) * KeyPageSize)
	}
	var rows []KeyListRow
	err := db.reader(ctx).Table("keys AS pg").Where("pg.tenant_id = ? AND pg.id IN (?)", tenantID, inner).
		Select(`k.*, m.store_id AS store_id, s.name AS store_name, m.alias_name AS alias_name, COALESCE(m.held, FALSE) AS held,
			p.next_rotation_at AS next_rotation_at, km.valid_to AS material_expiry`).
		Joins("JOIN keys AS k ON k.id = pg.id").
		Joins("LEFT JOIN managed_keys AS m ON m.key_id = k.id AND m.tenant_id = k.tenant_id").
		Joins("LEFT JOIN key_stores AS s ON s.id = m.store_id").
		Joins("LEFT JOIN rotation_policies AS p ON p.key_id = k.id").
		Joins("LEFT JOIN key_materials AS km ON km.key_id = k.id AND km.state = ? AND km.valid_to IS NOT NULL", MaterialActive).
		Order(order).Scan(&rows).Error
	if err != nil {
		return out, fmt.Errorf("list keys: %w", mapErr(err))
	}
	for _, r := range rows {
		fixKeyTimes(&r.Key)
		r.NextRotationAt, r.MaterialExpiry = tsPtr(r.NextRotationAt), tsPtr(r.MaterialExpiry)
		out.Rows = append(out.Rows, r)
	}
	return out, nil
}

// KeyRegionsOf returns the KMS keys of some of a tenant's keys, by key id,
// primary first: one query for a page of keys. The ids filter both sides
// of the join, so PostgreSQL looks the page's keys up by primary key
// instead of hashing every key of the tenant.
func (db *DB) KeyRegionsOf(ctx context.Context, tenantID string, keyIDs []string) (map[string][]KeyRegion, error) {
	out := map[string][]KeyRegion{}
	if len(keyIDs) == 0 {
		return out, nil
	}
	var rs []KeyRegion
	err := db.reader(ctx).Table("key_regions AS r").Select("r.*").
		Joins("JOIN keys k ON k.id = r.key_id").Where("k.tenant_id = ? AND k.id IN ? AND r.key_id IN ?", tenantID, keyIDs, keyIDs).
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
// or decrypted (keys never used are absent): one query for a page of keys
// (the ids filter both sides of the join, as in KeyRegionsOf).
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
	err := db.reader(ctx).Table("data_key_versions AS v").Select("v.key_id, v.last_used_at").
		Joins("JOIN keys k ON k.id = v.key_id").
		Where("k.tenant_id = ? AND k.id IN ? AND v.key_id IN ? AND v.last_used_at IS NOT NULL", tenantID, keyIDs, keyIDs).Scan(&rows).Error
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
	err := db.reader(ctx).Table("keys").Select("id, name").Where("tenant_id = ?", tenantID).
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
	err := db.reader(ctx).Table("keys").Select("id, name").Where("tenant_id = ? AND id IN ?", tenantID, ids).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("key names: %w", mapErr(err))
	}
	for _, r := range rows {
		out[r.ID] = r.Name
	}
	return out, nil
}

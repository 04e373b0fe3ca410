package handlers

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"keyport/models"
	"keyport/views"
)

// keySorts are the sort orders the keys list accepts in ?sort=.
var keySorts = map[string]bool{models.KeySortName: true, models.KeySortStatus: true,
	models.KeySortNextRotation: true, models.KeySortLastUsed: true}

// maxKeySearch bounds ?q=: a longer search matches nothing anyway.
const maxKeySearch = 200

// Keys lists one page of the tenant's keys: searched with ?q=, sorted with
// ?sort= and ?dir=, paged with ?page=. The number of queries is the same
// for every page, whatever the number of keys.
func (h *Handler) Keys(c echo.Context) error {
	v := viewerFrom(c)
	ctx := c.Request().Context()
	q := models.KeyListQuery{Search: strings.TrimSpace(c.QueryParam("q")), Sort: c.QueryParam("sort"), Desc: c.QueryParam("dir") == "desc"}
	if len(q.Search) > maxKeySearch {
		q.Search = q.Search[:maxKeySearch]
	}
	if !keySorts[q.Sort] {
		q.Sort = models.KeySortName
	}
	q.Page, _ = strconv.Atoi(c.QueryParam("page"))
	page, err := h.db.KeyList(ctx, v.Tenant.ID, q)
	if err != nil {
		return err
	}
	any := page.Total > 0
	if !any && q.Search != "" { // no match, or no key at all?
		if any, err = h.db.TenantHasKeys(ctx, v.Tenant.ID); err != nil {
			return err
		}
	}
	ids := make([]string, len(page.Rows))
	for i, r := range page.Rows {
		ids[i] = r.ID
	}
	regions, err := h.db.KeyRegionsOf(ctx, v.Tenant.ID, ids)
	if err != nil {
		return err
	}
	used, err := h.db.KeyLastUse(ctx, v.Tenant.ID, ids)
	if err != nil {
		return err
	}
	cs, err := h.db.ListConnections(ctx, v.Tenant.ID)
	if err != nil {
		return err
	}
	m := views.Keys{CanManage: v.can(ActManageKeys), HasConnections: len(cs) > 0,
		Nav: views.KeyListNav{Query: q.Search, Sort: q.Sort, Desc: q.Desc, Page: page.Page, Pages: page.Pages, Total: page.Total, Any: any}}
	if m.CanManage { // the import-your-own-key link says whether a store exists
		sts, err := h.db.ListKeyStores(ctx, v.Tenant.ID)
		if err != nil {
			return err
		}
		m.HasStores = len(sts) > 0
	}
	now := h.now()
	for _, k := range page.Rows {
		names := make([]string, 0, len(regions[k.ID]))
		for _, r := range regions[k.ID] {
			names = append(names, r.Region)
		}
		row := views.KeyRow{ID: k.ID, Name: k.Name, State: string(k.State), Health: string(k.Health),
			Status: views.StatusOf(string(k.State), string(k.Health), k.MaterialExpiry, now), Regions: strings.Join(names, ", "),
			Version: k.CurrentVersion, Kind: views.KindLabel(string(k.Mode), k.Held), Store: k.StoreName, Alias: k.AliasName,
			NextRotation: k.NextRotationAt}
		if k.StoreID != "" {
			row.StoreHref = "/stores/" + k.StoreID
		}
		if t, ok := used[k.ID]; ok {
			row.LastUsed = &t
		}
		m.Rows = append(m.Rows, row)
	}
	p := h.page(c, "Keys", "keys")
	if c.QueryParam("done") == "purged" { // PurgeTenantCache
		p.Flash = keyFlashes["purged"]
	}
	return render(c, http.StatusOK, views.KeysPage(p, m))
}

// connectionKeyLinks links the keys that use a connection.
func connectionKeyLinks(count int, ks []models.ConnectionKey) views.ConnectionKeys {
	out := views.ConnectionKeys{Count: count}
	for _, k := range ks {
		out.Keys = append(out.Keys, views.Link{Label: k.Name, Href: "/keys/" + k.KeyID})
	}
	return out
}

package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// Healthz answers while the process is alive.
func (h *Handler) Healthz(c echo.Context) error {
	return c.String(http.StatusOK, "ok\n")
}

// Readyz answers 200 only while the database is reachable, so a load
// balancer stops sending traffic to a replica that lost it; the body says
// "degraded" while the identity provider does not answer.
func (h *Handler) Readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if err := h.db.Ping(ctx); err != nil {
		h.log.Warn("readiness check failed", "err", err)
		return c.String(http.StatusServiceUnavailable, "database unreachable\n")
	}
	// An unreachable identity provider stops new sign-ins on every
	// replica alike, so it degrades readiness without failing it: signed-in
	// users and the data API keep working.
	if h.oidc != nil {
		if err := h.oidc.Reachable(ctx); err != nil {
			h.log.Warn("readiness degraded", "err", err)
			return c.String(http.StatusOK, "degraded: identity provider unreachable\n")
		}
	}
	return c.String(http.StatusOK, "ready\n")
}

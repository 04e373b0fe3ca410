// Package benchbase is the bare echo server kpbench measures keyport's data
// API against (issue 18): echo.New(), no middleware, no token check, no
// crypto. It lives under web, the one place that builds echo servers; only
// cmd/kpbench imports it.
package benchbase

import (
	"encoding/json"
	"net/http"

	"github.com/labstack/echo/v4"

	"keyport/handlers/dataapi"
)

// Handler decodes the data API's JSON and answers JSON of the same size,
// at the same paths: what a service would run without keyport in front of
// it. overhead is what a real ciphertext adds to its plaintext; keyID is
// the key id a decrypt answers with.
func Handler(overhead int, keyID string) http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.POST("/api/v1/encrypt", func(c echo.Context) error {
		var in dataapi.EncryptItem
		if err := json.NewDecoder(c.Request().Body).Decode(&in); err != nil {
			return c.JSON(http.StatusBadRequest, map[string]string{"error": "bad json"})
		}
		ct := make([]byte, len(in.Plaintext)+overhead)
		copy(ct, in.Plaintext)
		return c.JSON(http.StatusOK, dataapi.EncryptResult{Ciphertext: ct, KeyID: in.KeyID, KeyVersion: 1})
	})
	e.POST("/api/v1/decrypt", func(c echo.Context) error {
		var in dataapi.DecryptItem
		if err := json.NewDecoder(c.Request().Body).Decode(&in); err != nil {
			return c.JSON(http.StatusBadRequest, map[string]string{"error": "bad json"})
		}
		pt := in.Ciphertext[:max(0, len(in.Ciphertext)-overhead)]
		return c.JSON(http.StatusOK, dataapi.DecryptResult{Plaintext: pt, KeyID: keyID, KeyVersion: 1})
	})
	return e
}

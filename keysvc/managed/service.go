package managed

import (
	"crypto/rand"
	"io"
	"log/slog"
	"time"

	"keyport/keysvc"
	"keyport/keysvc/awskms"
	"keyport/keysvc/mailer"
	"keyport/keysvc/seal"
	"keyport/models"
)

// Service runs the keys whose material keyport holds (modes 2 and 3):
// their stores, creation, import, renewal, rotation, export, deletion,
// drift and approvals, through recorded operations driven by jobs. The
// data path of those keys is the root key service's (Keys).
type Service struct {
	db      *models.DB
	sealer  *seal.Sealer
	log     *slog.Logger
	now     func() time.Time
	rand    io.Reader
	clients *awskms.Clients
	keys    *keysvc.Service
	lc      lifecycle
	// mailOut and mailRender write approval emails (SetApprovalMail).
	mailOut    *mailer.Outbox
	mailRender ApprovalRenderer
	imports    *importGuard // import request limits and the RSA key pool
}

// Deps are the managed service's collaborators.
type Deps struct {
	DB     *models.DB
	Sealer *seal.Sealer
	// Keys is the key service whose data path serves these keys: its key
	// table and data-key cache are kept current with every change made here.
	Keys   *keysvc.Service
	Logger *slog.Logger
	Now    func() time.Time // injected clock; time.Now when nil
	Rand   io.Reader        // crypto/rand when nil; used from a background goroutine too
	// Clients builds KMS clients for the stores' connections; nil means
	// the key service's.
	Clients *awskms.Clients
	// ImportKeyPool is how many RSA keys for import requests are generated
	// ahead: 0 means DefaultImportKeyPool, a negative number none.
	ImportKeyPool int
}

// New builds the managed-key service.
func New(d Deps) *Service {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Rand == nil {
		d.Rand = rand.Reader
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Clients == nil {
		d.Clients = d.Keys.Clients()
	}
	if d.ImportKeyPool == 0 {
		d.ImportKeyPool = DefaultImportKeyPool
	}
	return &Service{db: d.DB, sealer: d.Sealer, log: d.Logger, now: d.Now, rand: d.Rand, clients: d.Clients, keys: d.Keys,
		imports: newImportGuard(d.ImportKeyPool, d.Rand, d.Logger)}
}

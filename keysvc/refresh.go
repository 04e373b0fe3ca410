package keysvc

import "context"

// RefreshTables reads every key and service-token change now instead of
// at the next tick: a change made to many rows at once (a tenant's
// closure) takes effect in this process before the call returns. Other
// replicas follow through the revision as usual.
func (s *Service) RefreshTables(ctx context.Context) { s.refreshNow(ctx) }

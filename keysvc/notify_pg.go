package keysvc

import "context"

// watchChanges returns a channel that receives when another replica
// commits a key, connection or service-token change, through PostgreSQL's
// LISTEN/NOTIFY (models.DB.WatchChanges), so a purge, a disable or a token
// revocation reaches this replica's memory in milliseconds instead of at
// the next poll. The poll every RefreshEvery stays: it is the fallback
// while the listening connection is down, and all there is on SQLite,
// where the channel never fires (one process, nothing to hear).
func (s *Service) watchChanges(ctx context.Context) <-chan struct{} {
	wake := make(chan struct{}, 1)
	go func() {
		err := s.db.WatchChanges(ctx, func() {
			select {
			case wake <- struct{}{}:
			default: // a refresh is already due; it reads every change
			}
		})
		if err != nil && ctx.Err() == nil {
			s.log.Warn("listen for other replicas' changes; polling only", "err", err)
		}
	}()
	return wake
}

// refreshNow reads the key and token changes announced by watchChanges.
func (s *Service) refreshNow(ctx context.Context) {
	if err := s.dp.keys.refresh(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn("refresh key table", "err", err)
	}
	if err := s.tokens.refresh(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn("refresh service tokens", "err", err)
	}
}

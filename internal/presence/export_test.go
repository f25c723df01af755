package presence

import (
	"context"
	"log/slog"

	"chappe.eu/chappe/internal/store"
)

// The rules and one pass of timeouts, for the external tests (which need
// testserver, which imports this package).
var (
	RuleSet      = set
	RuleActive   = active
	RuleSyncing  = syncing
	RuleTimeouts = timeouts
	Classify     = classify
)

// NewWithoutLoop returns a service whose timeouts only run when the test
// calls ApplyTimeouts.
func NewWithoutLoop(db *store.DB, n Notifier) *Service {
	return &Service{db: db, notify: n, log: slog.Default()}
}

func (s *Service) ApplyTimeouts(ctx context.Context, now int64) error {
	return s.applyTimeouts(ctx, now)
}

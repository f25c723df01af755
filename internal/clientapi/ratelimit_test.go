package clientapi_test

import (
	"fmt"
	"testing"

	"chappe.eu/chappe/internal/config"
	"chappe.eu/chappe/internal/testserver"
)

// Registration counts only completed registrations against an IP's
// allowance (as Synapse does): the UIA challenge that starts every
// registration must not use up the burst.
func TestRegistrationRateLimitCountsCompletedOnly(t *testing.T) {
	srv := testserver.Start(t, "sqlite", func(c *config.Config) {
		c.RateLimit.Enabled = true
		c.RateLimit.Register = config.Rate{PerSecond: 0.001, Burst: 2}
	})
	for i := range 2 {
		srv.Register(t, fmt.Sprintf("user%d", i), "password1") // challenge + completion each
	}
	r := srv.Client(t).Do("POST", "/_matrix/client/v3/register", map[string]any{"username": "third", "password": "password1"})
	if r.Status != 429 || r.Errcode() != "M_LIMIT_EXCEEDED" || r.Body["retry_after_ms"] == nil {
		t.Fatalf("third registration = %d %s; want 429 M_LIMIT_EXCEEDED with retry_after_ms", r.Status, r.Raw)
	}
}

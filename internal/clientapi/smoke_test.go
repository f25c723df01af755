package clientapi_test

import (
	"net/http"
	"testing"

	"chappe.eu/chappe/internal/testserver"
)

// TestRegisterLoginWhoami walks the spec's basic account life cycle:
// "Account registration", "Login", "GET /account/whoami", "Logout".
func TestRegisterLoginWhoami(t *testing.T) {
	for _, engine := range testserver.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			srv := testserver.Start(t, engine, nil)
			alice := srv.Register(t, "alice", "correct horse")
			r := alice.MustDo("GET", "/_matrix/client/v3/account/whoami", nil, http.StatusOK)
			if got := r.String("user_id"); got != "@alice:chappe.test" {
				t.Fatalf("whoami user_id = %q; want @alice:chappe.test", got)
			}
			if got := r.String("device_id"); got != alice.DeviceID {
				t.Fatalf("whoami device_id = %q; want %q", got, alice.DeviceID)
			}
			second := srv.Login(t, "alice", "correct horse")
			if second.DeviceID == alice.DeviceID {
				t.Fatal("second login reused the first device")
			}
			alice.MustDo("POST", "/_matrix/client/v3/logout", nil, http.StatusOK)
			r = alice.Do("GET", "/_matrix/client/v3/account/whoami", nil)
			if r.Status != http.StatusUnauthorized || r.Errcode() != "M_UNKNOWN_TOKEN" {
				t.Fatalf("whoami after logout = %d %s; want 401 M_UNKNOWN_TOKEN", r.Status, r.Raw)
			}
			second.MustDo("GET", "/_matrix/client/v3/account/whoami", nil, http.StatusOK)
		})
	}
}

package clientapi_test

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"chappe.eu/chappe/internal/config"
)

// TestServerInfo covers "API Versions" (GET /versions), "Capabilities
// negotiation", "Well-known URIs" and the operators' /health.
func TestServerInfo(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := start(t, engine, func(c *config.Config) { c.PublicBaseURL = "https://matrix.chappe.test/" })
		anon := srv.Client(t)

		r := anon.MustDo("GET", "/_matrix/client/versions", nil, http.StatusOK)
		versions := bodyList(t, r, "versions")
		if !slices.Contains(versions, "v1.1") || !slices.Contains(versions, "v1.11") {
			t.Fatalf("versions = %v", versions)
		}
		if _, ok := r.Body["unstable_features"].(map[string]any); !ok {
			t.Fatalf("versions has no unstable_features object: %s", r.Raw)
		}

		r = anon.MustDo("GET", "/.well-known/matrix/client", nil, http.StatusOK)
		hs, _ := r.Body["m.homeserver"].(map[string]any)
		if hs["base_url"] != "https://matrix.chappe.test" {
			t.Fatalf("well-known = %s; want base_url https://matrix.chappe.test", r.Raw)
		}
		if r.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Fatal("/.well-known/matrix/client has no CORS header; the spec asks for it")
		}
		wantErr(t, "well-known server without federation", anon.Do("GET", "/.well-known/matrix/server", nil), http.StatusNotFound, "M_NOT_FOUND")

		wantErr(t, "capabilities without token", anon.Do("GET", v3+"/capabilities", nil), http.StatusUnauthorized, "M_MISSING_TOKEN")
		alice := srv.Register(t, "alice", password)
		r = alice.MustDo("GET", v3+"/capabilities", nil, http.StatusOK)
		caps, _ := r.Body["capabilities"].(map[string]any)
		for _, c := range []string{"m.change_password", "m.set_displayname", "m.set_avatar_url", "m.3pid_changes", "m.get_login_token", "m.profile_fields"} {
			if _, ok := caps[c].(map[string]any)["enabled"].(bool); !ok {
				t.Fatalf("capability %s has no boolean enabled: %s", c, r.Raw)
			}
		}
		rv, _ := caps["m.room_versions"].(map[string]any)
		def, _ := rv["default"].(string)
		avail, _ := rv["available"].(map[string]any)
		if def == "" || avail[def] != "stable" {
			t.Fatalf("m.room_versions = %v; want a default that is available and stable", rv)
		}

		resp, err := http.Get(srv.URL + "/health")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != "OK" {
			t.Fatalf("/health = %d %q", resp.StatusCode, body)
		}
	})
}

// TestCORS covers "Web Browser Clients": CORS headers on every response,
// and OPTIONS answered without running the endpoint's logic.
func TestCORS(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := start(t, engine, nil)
		check := func(what string, h http.Header) {
			t.Helper()
			for k, want := range map[string][]string{
				"Access-Control-Allow-Origin":  {"*"},
				"Access-Control-Allow-Methods": {"GET", "POST", "PUT", "DELETE", "OPTIONS"},
				"Access-Control-Allow-Headers": {"X-Requested-With", "Content-Type", "Authorization"},
			} {
				got := h.Get(k)
				for _, w := range want {
					if !strings.Contains(got, w) {
						t.Fatalf("%s: %s = %q; want it to include %s", what, k, got, w)
					}
				}
			}
		}
		anon := srv.Client(t)
		check("versions", anon.MustDo("GET", "/_matrix/client/versions", nil, http.StatusOK).Header)
		check("401", anon.Do("GET", v3+"/account/whoami", nil).Header)
		check("404", anon.Do("GET", "/_matrix/client/v3/nonexistent", nil).Header)

		for _, path := range []string{v3 + "/login", v3 + "/register", v3 + "/account/whoami", v3 + "/devices/X", "/_matrix/client/v3/nonexistent"} {
			req, _ := http.NewRequest("OPTIONS", srv.URL+path, nil)
			req.Header.Set("Origin", "https://app.example.org")
			req.Header.Set("Access-Control-Request-Method", "POST")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
				t.Fatalf("OPTIONS %s = %d; want 200 or 204", path, resp.StatusCode)
			}
			check("OPTIONS "+path, resp.Header)
		}
		// "The server MUST NOT perform any logic defined for the
		// endpoints when approached with an OPTIONS request": an OPTIONS
		// /register starts no UIA session and creates nothing.
		req, _ := http.NewRequest("OPTIONS", srv.URL+v3+"/register", strings.NewReader(`{"username":"ghost","password":"correct horse battery","auth":{"type":"m.login.dummy"}}`))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		anon.MustDo("GET", v3+"/register/available?username=ghost", nil, http.StatusOK)
	})
}

// TestUnrecognized: unknown endpoints are 404 M_UNRECOGNIZED and known
// endpoints with the wrong method 405 M_UNRECOGNIZED ("Common error
// codes").
func TestUnrecognized(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := start(t, engine, nil)
		anon := srv.Client(t)
		for _, path := range []string{"/_matrix/client/v3/nonexistent", "/_matrix/client/v4/login", "/", "/_matrix/client/v3/profile/@a:b/c/d", "/_synapse/admin/v1/nope"} {
			wantErr(t, "GET "+path, anon.Do("GET", path, nil), http.StatusNotFound, "M_UNRECOGNIZED")
		}
		for _, req := range []struct{ method, path string }{
			{"PUT", v3 + "/login"}, {"DELETE", v3 + "/login"}, {"GET", v3 + "/logout"}, {"POST", v3 + "/account/whoami"},
			{"POST", v3 + "/devices"}, {"PATCH", v3 + "/devices/X"}, {"POST", "/_matrix/client/versions"},
		} {
			r := anon.Do(req.method, req.path, nil)
			wantErr(t, req.method+" "+req.path, r, http.StatusMethodNotAllowed, "M_UNRECOGNIZED")
			if r.Header.Get("Allow") == "" {
				t.Fatalf("%s %s: 405 without an Allow header", req.method, req.path)
			}
		}
		// HEAD works wherever GET does.
		resp, err := http.Head(srv.URL + "/_matrix/client/versions")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("HEAD /versions = %d", resp.StatusCode)
		}
	})
}

// TestMetrics: with metrics enabled, /metrics serves request durations
// by route.
func TestMetrics(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := start(t, engine, func(c *config.Config) { c.Metrics.Enabled = true })
		anon := srv.Client(t)
		anon.MustDo("GET", "/_matrix/client/versions", nil, http.StatusOK)
		anon.Do("GET", "/_matrix/client/v3/nonexistent/"+strings.Repeat("x", 20), nil)
		resp, err := http.Get(srv.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		text := string(body)
		if resp.StatusCode != http.StatusOK || !strings.Contains(text, "# TYPE chappe_http_request_duration_seconds histogram") {
			t.Fatalf("/metrics = %d %s", resp.StatusCode, text)
		}
		if !strings.Contains(text, `chappe_http_request_duration_seconds_count{route="/_matrix/client/versions",status="200"} 1`) {
			t.Fatalf("/metrics does not count GET /versions by route:\n%s", text)
		}
		// Unknown paths share one label, so clients cannot blow up the
		// number of series.
		if strings.Contains(text, "nonexistent") || !strings.Contains(text, `route="unmatched",status="404"`) {
			t.Fatalf("unmatched request not labelled route=\"unmatched\":\n%s", text)
		}
	})
}

// TestMetricsDisabled: /metrics is off by default.
func TestMetricsDisabled(t *testing.T) {
	srv := start(t, "sqlite", nil)
	wantErr(t, "/metrics", srv.Client(t).Do("GET", "/metrics", nil), http.StatusNotFound, "M_UNRECOGNIZED")
}

// TestRateLimit covers "Rate limiting": over the limit, 429
// M_LIMIT_EXCEEDED with retry_after_ms.
func TestRateLimit(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		const burst = 3
		srv := start(t, engine, func(c *config.Config) {
			c.RateLimit.Enabled = true
			c.RateLimit.Login = config.Rate{PerSecond: 0.01, Burst: burst}
			c.RateLimit.Register = config.Rate{PerSecond: 100, Burst: 100}
		})
		srv.Register(t, "alice", password)
		anon := srv.Client(t)
		// burst logins succeed, the next one is refused.
		for i := range burst {
			if r := anon.Do("POST", v3+"/login", passwordLogin("alice", password)); r.Status != http.StatusOK {
				t.Fatalf("login %d of a burst of %d = %d %s; want 200", i+1, burst, r.Status, r.Raw)
			}
		}
		r := anon.Do("POST", v3+"/login", passwordLogin("alice", password))
		wantErr(t, "login over the limit", r, http.StatusTooManyRequests, "M_LIMIT_EXCEEDED")
		if ms, ok := r.Body["retry_after_ms"].(float64); !ok || ms <= 0 {
			t.Fatalf("429 = %s; want a positive retry_after_ms", r.Raw)
		}
		if ra := r.Header.Get("Retry-After"); ra == "" {
			t.Fatalf("429 without a Retry-After header")
		}
		// Other endpoints have their own limits.
		anon.MustDo("GET", "/_matrix/client/versions", nil, http.StatusOK)
	})
}

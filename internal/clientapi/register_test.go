package clientapi_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"chappe.eu/chappe/internal/config"
	"chappe.eu/chappe/internal/testserver"
)

// registerDummy runs the two steps of open registration and returns the
// final response.
func registerDummy(c *testserver.Client, body map[string]any) *testserver.Response {
	r := c.Do("POST", v3+"/register", body)
	if r.Status != http.StatusUnauthorized {
		return r
	}
	next := map[string]any{"auth": map[string]any{"type": "m.login.dummy", "session": r.String("session")}}
	for k, v := range body {
		next[k] = v
	}
	return c.Do("POST", v3+"/register", next)
}

// TestRegister covers "Account registration", POST /register with the
// "User-Interactive Authentication API" (m.login.dummy) and
// GET /register/available.
func TestRegister(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := start(t, engine, nil)
		anon := srv.Client(t)

		t.Run("UIA challenge", func(t *testing.T) {
			r := anon.Do("POST", v3+"/register", map[string]any{"username": "carol", "password": password})
			if r.Status != http.StatusUnauthorized || r.String("session") == "" {
				t.Fatalf("first step = %d %s; want 401 with a session", r.Status, r.Raw)
			}
			if f := flowsOf(t, r); !slices.Equal(f, []string{"m.login.dummy"}) {
				t.Fatalf("flows = %v; want [m.login.dummy]", f)
			}
			if _, ok := r.Body["params"].(map[string]any); !ok {
				t.Fatalf("challenge has no params object: %s", r.Raw)
			}
			// Not yet registered: the name is still free.
			anon.MustDo("GET", v3+"/register/available?username=carol", nil, http.StatusOK)
			r = anon.MustDo("POST", v3+"/register", map[string]any{
				"username": "carol", "password": password, "initial_device_display_name": "Carol's phone",
				"auth": map[string]any{"type": "m.login.dummy", "session": r.String("session")},
			}, http.StatusOK)
			if r.String("user_id") != "@carol:chappe.test" || r.String("access_token") == "" || r.String("device_id") == "" {
				t.Fatalf("register = %s", r.Raw)
			}
			carol := as(anon, r.String("access_token"))
			d := carol.MustDo("GET", v3+"/devices/"+r.String("device_id"), nil, http.StatusOK)
			if d.String("display_name") != "Carol's phone" {
				t.Fatalf("device display_name = %q", d.String("display_name"))
			}
			srv.Login(t, "carol", password)
		})

		t.Run("user in use", func(t *testing.T) {
			srv.Register(t, "dave", password)
			wantErr(t, "register taken name", anon.Do("POST", v3+"/register", map[string]any{"username": "dave", "password": password}),
				http.StatusBadRequest, "M_USER_IN_USE")
			wantErr(t, "available taken name", anon.Do("GET", v3+"/register/available?username=dave", nil),
				http.StatusBadRequest, "M_USER_IN_USE")
		})

		t.Run("invalid usernames", func(t *testing.T) {
			for _, name := range []string{
				"Alice", "ALICE", "al ice", " ", "\t", "alice:chappe.test", "@alice", "al\u00e9ce", "al\x00ice",
				strings.Repeat("a", 256), strings.Repeat("a", 250), // the second is too long with the server name
				"12345", "0",
			} {
				wantErr(t, fmt.Sprintf("register %q", name),
					anon.Do("POST", v3+"/register", map[string]any{"username": name, "password": password}),
					http.StatusBadRequest, "M_INVALID_USERNAME")
				wantErr(t, fmt.Sprintf("available %q", name),
					anon.Do("GET", v3+"/register/available?username="+url.QueryEscape(name), nil),
					http.StatusBadRequest, "M_INVALID_USERNAME")
			}
			// The grammar's other characters are fine.
			for _, name := range []string{"a.b_c=d-e/f+g", "bot123"} {
				anon.MustDo("GET", v3+"/register/available?username="+url.QueryEscape(name), nil, http.StatusOK)
			}
			wantErr(t, "available without username", anon.Do("GET", v3+"/register/available", nil), http.StatusBadRequest, "M_MISSING_PARAM")
		})

		t.Run("available", func(t *testing.T) {
			r := anon.MustDo("GET", v3+"/register/available?username=erin", nil, http.StatusOK)
			if r.Body["available"] != true {
				t.Fatalf("available = %s", r.Raw)
			}
		})

		t.Run("guest", func(t *testing.T) {
			wantErr(t, "kind=guest", anon.Do("POST", v3+"/register?kind=guest", map[string]any{}), http.StatusForbidden, "M_GUEST_ACCESS_FORBIDDEN")
			wantErr(t, "kind=admin", anon.Do("POST", v3+"/register?kind=admin", map[string]any{}), http.StatusBadRequest, "M_INVALID_PARAM")
		})

		t.Run("weak password", func(t *testing.T) {
			for _, pw := range []string{"short", strings.Repeat("x", 2000)} {
				wantErr(t, "password of length "+fmt.Sprint(len(pw)),
					anon.Do("POST", v3+"/register", map[string]any{"username": "frank", "password": pw}),
					http.StatusBadRequest, "M_WEAK_PASSWORD")
			}
		})

		t.Run("generated username", func(t *testing.T) {
			r := registerDummy(anon, map[string]any{"password": password})
			if r.Status != http.StatusOK || !regexp.MustCompile(`^@[0-9]+:chappe\.test$`).MatchString(r.String("user_id")) {
				t.Fatalf("register without username = %d %s; want a generated numeric user ID", r.Status, r.Raw)
			}
			srv.Login(t, r.String("user_id"), password)
		})

		t.Run("inhibit_login", func(t *testing.T) {
			r := registerDummy(anon, map[string]any{"username": "grace", "password": password, "inhibit_login": true})
			if r.Status != http.StatusOK || r.String("user_id") != "@grace:chappe.test" {
				t.Fatalf("register with inhibit_login = %d %s", r.Status, r.Raw)
			}
			if _, ok := r.Body["access_token"]; ok {
				t.Fatalf("inhibit_login returned an access_token: %s", r.Raw)
			}
			if _, ok := r.Body["device_id"]; ok {
				t.Fatalf("inhibit_login returned a device_id: %s", r.Raw)
			}
			g := srv.Login(t, "grace", password)
			if n := len(g.MustDo("GET", v3+"/devices", nil, http.StatusOK).Body["devices"].([]any)); n != 1 {
				t.Fatalf("grace has %d devices after inhibit_login and one login; want 1", n)
			}
		})

		t.Run("refresh_token and device_id", func(t *testing.T) {
			r := registerDummy(anon, map[string]any{"username": "heidi", "password": password, "refresh_token": true, "device_id": "HEIDIPHONE"})
			if r.Status != http.StatusOK || r.String("refresh_token") == "" || r.Body["expires_in_ms"] == nil || r.String("device_id") != "HEIDIPHONE" {
				t.Fatalf("register with refresh_token and device_id = %d %s", r.Status, r.Raw)
			}
		})

		t.Run("session cannot be replayed", func(t *testing.T) {
			r := anon.Do("POST", v3+"/register", map[string]any{"username": "ivan", "password": password})
			session := r.String("session")
			anon.MustDo("POST", v3+"/register", map[string]any{"username": "ivan", "password": password,
				"auth": map[string]any{"type": "m.login.dummy", "session": session}}, http.StatusOK)
			r = anon.Do("POST", v3+"/register", map[string]any{"username": "ivan2", "password": password,
				"auth": map[string]any{"session": session}})
			if r.Status == http.StatusOK {
				t.Fatalf("a finished registration session registered a second account: %s", r.Raw)
			}
			wantNo500(t, "replayed session", r)
		})

		t.Run("token validity needs token mode", func(t *testing.T) {
			wantErr(t, "validity in open mode", anon.Do("GET", "/_matrix/client/v1/register/m.login.registration_token/validity?token=abc", nil),
				http.StatusForbidden, "M_FORBIDDEN")
		})
	})
}

// TestRegisterClosed: "403: The homeserver does not permit registering
// the account."
func TestRegisterClosed(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := start(t, engine, func(c *config.Config) { c.Registration.Mode = "closed" })
		anon := srv.Client(t)
		wantErr(t, "register", anon.Do("POST", v3+"/register", map[string]any{"username": "alice", "password": password}),
			http.StatusForbidden, "M_FORBIDDEN")
		wantErr(t, "register with dummy auth", anon.Do("POST", v3+"/register", map[string]any{"username": "alice", "password": password,
			"auth": map[string]any{"type": "m.login.dummy"}}), http.StatusForbidden, "M_FORBIDDEN")
		// Synapse answers /register/available with 403 when registration is off.
		wantErr(t, "available", anon.Do("GET", v3+"/register/available?username=alice", nil), http.StatusForbidden, "M_FORBIDDEN")
	})
}

// TestRegistrationTokens covers the m.login.registration_token stage
// ("Token-authenticated registration"), its validity endpoint, and the use
// counts that the admin API reports.
func TestRegistrationTokens(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := start(t, engine, func(c *config.Config) {
			c.Registration.Mode = "token"
			c.Registration.SharedSecret = "s3cret"
		})
		anon := srv.Client(t)
		admin := sharedSecretRegister(t, srv, "root", password, true)
		adminPath := "/_synapse/admin/v1/registration_tokens"
		validity := func(tok string) *testserver.Response {
			return anon.MustDo("GET", "/_matrix/client/v1/register/m.login.registration_token/validity?token="+url.QueryEscape(tok), nil, http.StatusOK)
		}
		tokenRegister := func(username, tok string) *testserver.Response {
			r := anon.Do("POST", v3+"/register", map[string]any{"username": username, "password": password})
			if r.Status != http.StatusUnauthorized {
				t.Fatalf("register %s first step = %d %s", username, r.Status, r.Raw)
			}
			if f := flowsOf(t, r); !slices.Equal(f, []string{"m.login.registration_token"}) {
				t.Fatalf("flows in token mode = %v", f)
			}
			return anon.Do("POST", v3+"/register", map[string]any{"username": username, "password": password,
				"auth": map[string]any{"type": "m.login.registration_token", "token": tok, "session": r.String("session")}})
		}
		counts := func(tok string) (pending, completed float64) {
			r := admin.MustDo("GET", adminPath+"/"+tok, nil, http.StatusOK)
			return r.Body["pending"].(float64), r.Body["completed"].(float64)
		}

		admin.MustDo("POST", adminPath+"/new", map[string]any{"token": "twice", "uses_allowed": 2}, http.StatusOK)
		admin.MustDo("POST", adminPath+"/new", map[string]any{"token": "unlimited"}, http.StatusOK)
		soon := time.Now().Add(time.Hour).UnixMilli()
		admin.MustDo("POST", adminPath+"/new", map[string]any{"token": "expiring", "expiry_time": soon}, http.StatusOK)

		if validity("twice").Body["valid"] != true || validity("unknown").Body["valid"] != false {
			t.Fatal("validity of a fresh token or an unknown one is wrong")
		}
		if validity(strings.Repeat("x", 100)).Body["valid"] != false {
			t.Fatal("a 100-character token is valid")
		}
		wantErr(t, "validity without token", anon.Do("GET", "/_matrix/client/v1/register/m.login.registration_token/validity", nil),
			http.StatusBadRequest, "M_MISSING_PARAM")

		// A wrong token fails the stage: 401 with the flows and an errcode.
		r := tokenRegister("alice", "unknown")
		wantErr(t, "unknown token", r, http.StatusUnauthorized, "M_UNAUTHORIZED")
		if len(flowsOf(t, r)) == 0 || r.String("session") == "" {
			t.Fatalf("failed stage = %s; want the challenge with flows and session", r.Raw)
		}
		// Dummy auth is not offered in token mode.
		r = registerDummy(anon, map[string]any{"username": "alice", "password": password})
		if r.Status == http.StatusOK {
			t.Fatalf("m.login.dummy registered in token mode: %s", r.Raw)
		}
		wantNo500(t, "dummy in token mode", r)

		for i, name := range []string{"alice", "bob"} {
			r := tokenRegister(name, "twice")
			if r.Status != http.StatusOK || r.String("access_token") == "" {
				t.Fatalf("register %s with a valid token = %d %s", name, r.Status, r.Raw)
			}
			if p, c := counts("twice"); p != 0 || c != float64(i+1) {
				t.Fatalf("after %d registrations pending, completed = %v, %v; want 0, %d", i+1, p, c, i+1)
			}
		}
		wantErr(t, "used-up token", tokenRegister("carol", "twice"), http.StatusUnauthorized, "M_UNAUTHORIZED")
		if validity("twice").Body["valid"] != false {
			t.Fatal("a used-up token is still valid")
		}
		if p, c := counts("twice"); p != 0 || c != 2 {
			t.Fatalf("a refused registration changed the counts: pending, completed = %v, %v", p, c)
		}

		// Expire the token behind the server's back: the admin API
		// refuses past expiry times.
		if validity("expiring").Body["valid"] != true {
			t.Fatal("expiring token not valid before its time")
		}
		execSQL(t, srv, `UPDATE registration_tokens SET expiry_ts = $1 WHERE token = 'expiring'`, time.Now().Add(-time.Second).UnixMilli())
		if validity("expiring").Body["valid"] != false {
			t.Fatal("expired token is still valid")
		}
		wantErr(t, "expired token", tokenRegister("carol", "expiring"), http.StatusUnauthorized, "M_UNAUTHORIZED")

		r = tokenRegister("carol", "unlimited")
		if r.Status != http.StatusOK {
			t.Fatalf("register with an unlimited token = %d %s", r.Status, r.Raw)
		}
		// Raising uses_allowed revives a used-up token.
		admin.MustDo("PUT", adminPath+"/twice", map[string]any{"uses_allowed": 3}, http.StatusOK)
		if validity("twice").Body["valid"] != true {
			t.Fatal("token is not valid after raising uses_allowed")
		}
	})
}

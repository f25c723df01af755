package clientapi_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"chappe.eu/chappe/internal/testserver"
)

func passwordLogin(user, pw string) map[string]any {
	return map[string]any{
		"type":       "m.login.password",
		"identifier": map[string]any{"type": "m.id.user", "user": user},
		"password":   pw,
	}
}

// TestLogin covers "Login" (GET and POST /login) and "Relationship between
// access tokens and devices".
func TestLogin(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := start(t, engine, nil)
		alice := srv.Register(t, "alice", password)
		anon := srv.Client(t)

		t.Run("flows", func(t *testing.T) {
			r := anon.MustDo("GET", v3+"/login", nil, http.StatusOK)
			flows, _ := r.Body["flows"].([]any)
			var types []string
			for _, f := range flows {
				types = append(types, f.(map[string]any)["type"].(string))
			}
			if !slices.Contains(types, "m.login.password") {
				t.Fatalf("GET /login flows = %v; want m.login.password among them", types)
			}
		})

		t.Run("identifier forms", func(t *testing.T) {
			for _, body := range []map[string]any{
				passwordLogin("alice", password),
				passwordLogin("@alice:chappe.test", password),
				{"type": "m.login.password", "user": "alice", "password": password},
				{"type": "m.login.password", "user": "@alice:chappe.test", "password": password},
			} {
				r := anon.MustDo("POST", v3+"/login", body, http.StatusOK)
				if r.String("user_id") != "@alice:chappe.test" || r.String("access_token") == "" || r.String("device_id") == "" {
					t.Fatalf("login %v = %s; want user_id, access_token and device_id", body, r.Raw)
				}
				if _, ok := r.Body["refresh_token"]; ok {
					t.Fatalf("login without refresh_token: true returned a refresh token: %s", r.Raw)
				}
				c := as(anon, r.String("access_token"))
				if got := c.MustDo("GET", v3+"/account/whoami", nil, http.StatusOK).String("user_id"); got != "@alice:chappe.test" {
					t.Fatalf("whoami = %q", got)
				}
			}
		})

		t.Run("wrong credentials", func(t *testing.T) {
			for name, body := range map[string]map[string]any{
				"wrong password":   passwordLogin("alice", "not the password"),
				"empty password":   passwordLogin("alice", ""),
				"unknown user":     passwordLogin("nobody", password),
				"remote user":      passwordLogin("@alice:elsewhere.test", password),
				"invalid user ID":  passwordLogin("@:::", password),
				"no user at all":   {"type": "m.login.password", "password": password},
				"legacy wrong pwd": {"type": "m.login.password", "user": "alice", "password": "nope"},
			} {
				wantErr(t, name, anon.Do("POST", v3+"/login", body), http.StatusForbidden, "M_FORBIDDEN")
			}
		})

		t.Run("unsupported type", func(t *testing.T) {
			for _, typ := range []string{"m.login.token", "m.login.sso", "org.example.magic", ""} {
				body := passwordLogin("alice", password)
				body["type"] = typ
				wantErr(t, "login type "+typ, anon.Do("POST", v3+"/login", body), http.StatusBadRequest, "M_UNKNOWN")
			}
			body := passwordLogin("alice", password)
			body["identifier"] = map[string]any{"type": "m.id.thirdparty", "medium": "email", "address": "a@example.org"}
			wantErr(t, "thirdparty identifier", anon.Do("POST", v3+"/login", body), http.StatusBadRequest, "M_UNKNOWN")
		})

		t.Run("device_id reuse revokes the old token", func(t *testing.T) {
			body := passwordLogin("alice", password)
			body["device_id"] = "REUSED"
			body["initial_device_display_name"] = "First phone"
			first := anon.MustDo("POST", v3+"/login", body, http.StatusOK)
			if first.String("device_id") != "REUSED" {
				t.Fatalf("device_id = %q; want REUSED", first.String("device_id"))
			}
			body["initial_device_display_name"] = "Second phone"
			second := anon.MustDo("POST", v3+"/login", body, http.StatusOK)
			wantErr(t, "old token after device reuse", as(anon, first.String("access_token")).Do("GET", v3+"/account/whoami", nil),
				http.StatusUnauthorized, "M_UNKNOWN_TOKEN")
			c := as(anon, second.String("access_token"))
			r := c.MustDo("GET", v3+"/account/whoami", nil, http.StatusOK)
			if r.String("device_id") != "REUSED" {
				t.Fatalf("whoami device_id = %q; want REUSED", r.String("device_id"))
			}
			// "Ignored if device_id corresponds to a known device."
			d := c.MustDo("GET", v3+"/devices/REUSED", nil, http.StatusOK)
			if d.String("display_name") != "First phone" {
				t.Fatalf("display_name = %q; want the first login's, First phone", d.String("display_name"))
			}
		})

		t.Run("device fields", func(t *testing.T) {
			// PostgreSQL cannot store NUL in text; SQLite can. Both engines
			// must answer alike, with M_INVALID_PARAM.
			for name, change := range map[string]map[string]any{
				"NUL in device_id":    {"device_id": "DEV\u0000"},
				"long device_id":      {"device_id": strings.Repeat("D", 256)},
				"NUL in display name": {"initial_device_display_name": "phone\u0000"},
				"long display name":   {"initial_device_display_name": strings.Repeat("n", 1001)},
			} {
				body := passwordLogin("alice", password)
				for k, v := range change {
					body[k] = v
				}
				wantErr(t, name, anon.Do("POST", v3+"/login", body), http.StatusBadRequest, "M_INVALID_PARAM")
			}
		})

		t.Run("initial_device_display_name", func(t *testing.T) {
			body := passwordLogin("alice", password)
			body["initial_device_display_name"] = "Alice's laptop"
			r := anon.MustDo("POST", v3+"/login", body, http.StatusOK)
			devices := alice.MustDo("GET", v3+"/devices", nil, http.StatusOK).Body["devices"].([]any)
			found := false
			for _, d := range devices {
				d := d.(map[string]any)
				if d["device_id"] == r.String("device_id") {
					found = d["display_name"] == "Alice's laptop"
				}
			}
			if !found {
				t.Fatalf("GET /devices = %v; want device %s named Alice's laptop", devices, r.String("device_id"))
			}
		})

		t.Run("well_known", func(t *testing.T) {
			r := anon.MustDo("POST", v3+"/login", passwordLogin("alice", password), http.StatusOK)
			if _, ok := r.Body["well_known"].(map[string]any)["m.homeserver"]; !ok {
				t.Fatalf("login well_known = %s; want m.homeserver", r.Raw)
			}
		})
	})
}

// TestAccessTokens covers "Using access tokens" and "Soft logout".
func TestAccessTokens(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := start(t, engine, nil)
		alice := srv.Register(t, "alice", password)
		anon := srv.Client(t)
		whoami := v3 + "/account/whoami"

		wantErr(t, "no token", anon.Do("GET", whoami, nil), http.StatusUnauthorized, "M_MISSING_TOKEN")
		r := as(anon, "cht_not_a_real_token").Do("GET", whoami, nil)
		wantErr(t, "unknown token", r, http.StatusUnauthorized, "M_UNKNOWN_TOKEN")
		if sl, ok := r.Body["soft_logout"]; ok && sl != false {
			t.Fatalf("unknown token soft_logout = %v; want false or absent", sl)
		}
		wantErr(t, "very long token", as(anon, strings.Repeat("a", 600)).Do("GET", whoami, nil), http.StatusUnauthorized, "M_UNKNOWN_TOKEN")

		// The deprecated query parameter still works (spec before v1.20).
		r = anon.MustDo("GET", whoami+"?access_token="+url.QueryEscape(alice.Token), nil, http.StatusOK)
		if r.String("user_id") != alice.UserID {
			t.Fatalf("whoami with ?access_token = %s", r.Raw)
		}
		wantErr(t, "bad query token", anon.Do("GET", whoami+"?access_token=nope", nil), http.StatusUnauthorized, "M_UNKNOWN_TOKEN")

		// A header that is not a Bearer token is no token at all.
		req, _ := http.NewRequest("GET", srv.URL+whoami, nil)
		req.Header.Set("Authorization", "Basic "+alice.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("Basic auth = %d; want 401", resp.StatusCode)
		}
	})
}

// TestRefresh covers "Refreshing access tokens", "Soft logout" and
// POST /refresh.
func TestRefresh(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := start(t, engine, nil)
		srv.Register(t, "alice", password)
		anon := srv.Client(t)
		whoami := v3 + "/account/whoami"

		body := passwordLogin("alice", password)
		body["refresh_token"] = true
		login := anon.MustDo("POST", v3+"/login", body, http.StatusOK)
		refresh1 := login.String("refresh_token")
		if refresh1 == "" {
			t.Fatalf("login with refresh_token: true = %s; want a refresh_token", login.Raw)
		}
		if ms, _ := login.Body["expires_in_ms"].(float64); ms != float64(srv.Config.Auth.AccessTokenLifetime.Milliseconds()) {
			t.Fatalf("expires_in_ms = %v; want %d", login.Body["expires_in_ms"], srv.Config.Auth.AccessTokenLifetime.Milliseconds())
		}
		access1 := as(anon, login.String("access_token"))
		access1.MustDo("GET", whoami, nil, http.StatusOK)

		// Expire the access token: the client is soft logged out and can
		// still refresh.
		execSQL(t, srv, `UPDATE access_tokens SET expires_ts = 1 WHERE expires_ts <> 0`)
		r := access1.Do("GET", whoami, nil)
		wantErr(t, "expired token", r, http.StatusUnauthorized, "M_UNKNOWN_TOKEN")
		if r.Body["soft_logout"] != true {
			t.Fatalf("expired token = %s; want soft_logout: true", r.Raw)
		}

		refresh := func(tok string) *testserver.Response {
			return anon.Do("POST", v3+"/refresh", map[string]any{"refresh_token": tok})
		}
		r = refresh(refresh1)
		if r.Status != http.StatusOK || r.String("access_token") == "" || r.String("refresh_token") == "" || r.Body["expires_in_ms"] == nil {
			t.Fatalf("refresh = %d %s; want new access_token, refresh_token, expires_in_ms", r.Status, r.Raw)
		}
		access2, refresh2 := as(anon, r.String("access_token")), r.String("refresh_token")

		// "The old refresh token remains valid until the new access token
		// or refresh token is used": a client that lost the answer can
		// repeat the refresh.
		r = refresh(refresh1)
		if r.Status != http.StatusOK {
			t.Fatalf("repeated refresh before the new token is used = %d %s; want 200", r.Status, r.Raw)
		}
		access2.MustDo("GET", whoami, nil, http.StatusOK)
		r = refresh(refresh1)
		wantErr(t, "old refresh token after the new access token was used", r, http.StatusUnauthorized, "M_UNKNOWN_TOKEN")

		// The new refresh token works, and is bound to the same device.
		r = refresh(refresh2)
		if r.Status != http.StatusOK {
			t.Fatalf("refresh with the new refresh token = %d %s", r.Status, r.Raw)
		}
		access3 := as(anon, r.String("access_token"))
		if got := access3.MustDo("GET", whoami, nil, http.StatusOK).String("device_id"); got != login.String("device_id") {
			t.Fatalf("refreshed token's device = %q; want %q", got, login.String("device_id"))
		}
		// Using the refresh token (not only the access token) revokes its
		// predecessor.
		r = refresh(r.String("refresh_token"))
		if r.Status != http.StatusOK {
			t.Fatalf("third refresh = %d %s", r.Status, r.Raw)
		}
		wantErr(t, "refresh2 after its successor was used", refresh(refresh2), http.StatusUnauthorized, "M_UNKNOWN_TOKEN")

		wantErr(t, "unknown refresh token", refresh("chr_nope"), http.StatusUnauthorized, "M_UNKNOWN_TOKEN")
		wantErr(t, "access token as refresh token", refresh(access3.Token), http.StatusUnauthorized, "M_UNKNOWN_TOKEN")
		wantErr(t, "missing refresh token", anon.Do("POST", v3+"/refresh", map[string]any{}), http.StatusBadRequest, "M_MISSING_PARAM")

		// Logging out kills the refresh tokens with the device.
		last := r.String("refresh_token")
		as(anon, r.String("access_token")).MustDo("POST", v3+"/logout", nil, http.StatusOK)
		wantErr(t, "refresh after logout", refresh(last), http.StatusUnauthorized, "M_UNKNOWN_TOKEN")
	})
}

// TestLogout covers POST /logout and POST /logout/all.
func TestLogout(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := start(t, engine, nil)
		alice := srv.Register(t, "alice", password)
		bob := srv.Register(t, "bob", password)
		second := srv.Login(t, "alice", password)
		third := srv.Login(t, "alice", password)
		whoami := v3 + "/account/whoami"

		second.MustDo("POST", v3+"/logout", nil, http.StatusOK)
		wantErr(t, "whoami after logout", second.Do("GET", whoami, nil), http.StatusUnauthorized, "M_UNKNOWN_TOKEN")
		// "The device associated with the access token is also deleted."
		wantErr(t, "logged-out device", alice.Do("GET", v3+"/devices/"+second.DeviceID, nil), http.StatusNotFound, "M_NOT_FOUND")
		wantErr(t, "logout twice", second.Do("POST", v3+"/logout", nil), http.StatusUnauthorized, "M_UNKNOWN_TOKEN")
		third.MustDo("GET", whoami, nil, http.StatusOK)

		third.MustDo("POST", v3+"/logout/all", nil, http.StatusOK)
		for _, c := range []*testserver.Client{alice, third} {
			wantErr(t, "whoami after logout/all", c.Do("GET", whoami, nil), http.StatusUnauthorized, "M_UNKNOWN_TOKEN")
		}
		bob.MustDo("GET", whoami, nil, http.StatusOK)
		// Logging in again still works.
		fresh := srv.Login(t, "alice", password)
		devices := fresh.MustDo("GET", v3+"/devices", nil, http.StatusOK).Body["devices"].([]any)
		if len(devices) != 1 {
			t.Fatalf("devices after logout/all and a new login = %v; want just one", devices)
		}
		wantErr(t, "logout without token", srv.Client(t).Do("POST", v3+"/logout", nil), http.StatusUnauthorized, "M_MISSING_TOKEN")
	})
}

package clientapi_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"chappe.eu/chappe/internal/config"
	"chappe.eu/chappe/internal/testserver"
)

const sharedSecret = "s3cret"

// registrationMAC computes the MAC as Synapse's register_new_matrix_user
// does: HMAC-SHA1 over nonce\0user\0password\0admin|notadmin.
func registrationMAC(secret, nonce, user, pw string, admin bool) string {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(nonce + "\x00" + user + "\x00" + pw + "\x00"))
	if admin {
		m.Write([]byte("admin"))
	} else {
		m.Write([]byte("notadmin"))
	}
	return hex.EncodeToString(m.Sum(nil))
}

func nonce(t *testing.T, srv *testserver.Server) string {
	t.Helper()
	r := srv.Client(t).MustDo("GET", "/_synapse/admin/v1/register", nil, http.StatusOK)
	if r.String("nonce") == "" {
		t.Fatalf("nonce = %s", r.Raw)
	}
	return r.String("nonce")
}

// sharedSecretRegister registers a user with the shared secret and returns
// a client logged in as them.
func sharedSecretRegister(t *testing.T, srv *testserver.Server, user, pw string, admin bool) *testserver.Client {
	t.Helper()
	n := nonce(t, srv)
	c := srv.Client(t)
	r := c.MustDo("POST", "/_synapse/admin/v1/register", map[string]any{
		"nonce": n, "username": user, "password": pw, "admin": admin,
		"mac": registrationMAC(srv.Config.Registration.SharedSecret, n, user, pw, admin),
	}, http.StatusOK)
	c.Token, c.UserID, c.DeviceID = r.String("access_token"), r.String("user_id"), r.String("device_id")
	return c
}

// TestSharedSecretRegistration covers Synapse's admin API
// /_synapse/admin/v1/register, used by register_new_matrix_user.
func TestSharedSecretRegistration(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := start(t, engine, func(c *config.Config) {
			c.Registration.Mode = "closed" // shared-secret registration works regardless
			c.Registration.SharedSecret = sharedSecret
		})
		anon := srv.Client(t)
		path := "/_synapse/admin/v1/register"

		root := sharedSecretRegister(t, srv, "root", password, true)
		if root.UserID != "@root:chappe.test" || root.Token == "" {
			t.Fatalf("shared-secret registration = %+v", root)
		}
		root.MustDo("GET", v3+"/account/whoami", nil, http.StatusOK)
		srv.Login(t, "root", password)

		// A display name is set when given.
		n := nonce(t, srv)
		anon.MustDo("POST", path, map[string]any{
			"nonce": n, "username": "named", "password": password, "displayname": "Named User",
			"mac": registrationMAC(sharedSecret, n, "named", password, false),
		}, http.StatusOK)
		if r := anon.MustDo("GET", v3+"/profile/@named:chappe.test/displayname", nil, http.StatusOK); r.String("displayname") != "Named User" {
			t.Fatalf("displayname = %s", r.Raw)
		}

		// A bad MAC is refused, and the nonce is spent anyway (as Synapse
		// does), so it cannot be used for more guesses.
		n = nonce(t, srv)
		r := anon.Do("POST", path, map[string]any{"nonce": n, "username": "eve", "password": password, "admin": true,
			"mac": registrationMAC("wrong secret", n, "eve", password, true)})
		wantErr(t, "bad MAC", r, http.StatusForbidden, "M_FORBIDDEN")
		r = anon.Do("POST", path, map[string]any{"nonce": n, "username": "eve", "password": password, "admin": true,
			"mac": registrationMAC(sharedSecret, n, "eve", password, true)})
		if r.Status != http.StatusBadRequest {
			t.Fatalf("good MAC with a nonce spent on a bad MAC = %d %s; want 400", r.Status, r.Raw)
		}
		// The MAC covers the admin flag.
		n = nonce(t, srv)
		r = anon.Do("POST", path, map[string]any{"nonce": n, "username": "eve", "password": password, "admin": true,
			"mac": registrationMAC(sharedSecret, n, "eve", password, false)})
		wantErr(t, "MAC for notadmin sent with admin: true", r, http.StatusForbidden, "M_FORBIDDEN")
		r = anon.Do("POST", path, map[string]any{"nonce": n, "username": "eve", "password": password, "mac": "not hex"})
		wantNo500(t, "non-hex MAC", r)

		// A nonce is good for one registration.
		n = nonce(t, srv)
		body := map[string]any{"nonce": n, "username": "once", "password": password,
			"mac": registrationMAC(sharedSecret, n, "once", password, false)}
		anon.MustDo("POST", path, body, http.StatusOK)
		body["username"], body["mac"] = "twice", registrationMAC(sharedSecret, n, "twice", password, false)
		if r := anon.Do("POST", path, body); r.Status != http.StatusBadRequest {
			t.Fatalf("reused nonce = %d %s; want 400", r.Status, r.Raw)
		}
		// Unknown and expired nonces.
		if r := anon.Do("POST", path, map[string]any{"nonce": "made-up", "username": "x", "password": password,
			"mac": registrationMAC(sharedSecret, "made-up", "x", password, false)}); r.Status != http.StatusBadRequest {
			t.Fatalf("unknown nonce = %d %s; want 400", r.Status, r.Raw)
		}
		n = nonce(t, srv)
		execSQL(t, srv, `UPDATE shared_secret_nonces SET created_ts = $1 WHERE nonce = $2`, time.Now().Add(-time.Hour).UnixMilli(), n)
		if r := anon.Do("POST", path, map[string]any{"nonce": n, "username": "late", "password": password,
			"mac": registrationMAC(sharedSecret, n, "late", password, false)}); r.Status != http.StatusBadRequest {
			t.Fatalf("expired nonce = %d %s; want 400", r.Status, r.Raw)
		}
		// The usual username rules apply.
		n = nonce(t, srv)
		wantErr(t, "taken username", anon.Do("POST", path, map[string]any{"nonce": n, "username": "root", "password": password,
			"mac": registrationMAC(sharedSecret, n, "root", password, false)}), http.StatusBadRequest, "M_USER_IN_USE")
		wantErr(t, "missing fields", anon.Do("POST", path, map[string]any{}), http.StatusBadRequest, "M_MISSING_PARAM")

		// Admins may use the registration-token admin API, others not.
		plain := sharedSecretRegister(t, srv, "plain", password, false)
		tokens := "/_synapse/admin/v1/registration_tokens"
		root.MustDo("GET", tokens, nil, http.StatusOK)
		for _, req := range []struct{ method, path string }{
			{"GET", tokens}, {"POST", tokens + "/new"}, {"GET", tokens + "/abc"}, {"PUT", tokens + "/abc"}, {"DELETE", tokens + "/abc"},
		} {
			wantErr(t, "non-admin "+req.method+" "+req.path, plain.Do(req.method, req.path, map[string]any{}), http.StatusForbidden, "M_FORBIDDEN")
			wantErr(t, "anonymous "+req.method+" "+req.path, anon.Do(req.method, req.path, map[string]any{}), http.StatusUnauthorized, "M_MISSING_TOKEN")
		}
	})
}

// TestSharedSecretDisabled: without a configured secret the endpoint is off.
func TestSharedSecretDisabled(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := start(t, engine, nil)
		anon := srv.Client(t)
		if r := anon.Do("GET", "/_synapse/admin/v1/register", nil); r.Status != http.StatusBadRequest {
			t.Fatalf("nonce without a secret = %d %s; want 400", r.Status, r.Raw)
		}
		r := anon.Do("POST", "/_synapse/admin/v1/register", map[string]any{"nonce": "n", "username": "root", "password": password,
			"admin": true, "mac": registrationMAC("", "n", "root", password, true)})
		if r.Status != http.StatusBadRequest {
			t.Fatalf("register without a secret = %d %s; want 400", r.Status, r.Raw)
		}
	})
}

// TestRegistrationTokenAdmin covers Synapse's registration token admin API.
func TestRegistrationTokenAdmin(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := start(t, engine, func(c *config.Config) { c.Registration.SharedSecret = sharedSecret })
		admin := sharedSecretRegister(t, srv, "root", password, true)
		path := "/_synapse/admin/v1/registration_tokens"

		r := admin.MustDo("POST", path+"/new", map[string]any{}, http.StatusOK)
		if len(r.String("token")) != 16 || r.Body["uses_allowed"] != nil || r.Body["expiry_time"] != nil {
			t.Fatalf("default new token = %s; want 16 characters, unlimited, never expiring", r.Raw)
		}
		r = admin.MustDo("POST", path+"/new", map[string]any{"length": 64}, http.StatusOK)
		if len(r.String("token")) != 64 {
			t.Fatalf("token of length 64 = %q", r.String("token"))
		}
		admin.MustDo("POST", path+"/new", map[string]any{"token": "mine-1.2_3~", "uses_allowed": 0}, http.StatusOK)
		wantErr(t, "duplicate token", admin.Do("POST", path+"/new", map[string]any{"token": "mine-1.2_3~"}), http.StatusBadRequest, "M_INVALID_PARAM")

		for name, body := range map[string]map[string]any{
			"bad characters":   {"token": "no spaces"},
			"empty token":      {"token": ""},
			"65 characters":    {"token": strings.Repeat("a", 65)},
			"negative uses":    {"uses_allowed": -1},
			"past expiry":      {"expiry_time": 1},
			"length 0":         {"length": 0},
			"length 65":        {"length": 65},
			"negative length":  {"length": -3},
			"fractional uses":  {"uses_allowed": 1.5},
			"huge uses":        {"uses_allowed": 1e30},
			"string uses":      {"uses_allowed": "3"},
			"huge length":      {"length": 1e20},
			"wrong token type": {"token": 12},
		} {
			r := admin.Do("POST", path+"/new", body)
			if r.Status != http.StatusBadRequest {
				t.Fatalf("new token with %s = %d %s; want 400", name, r.Status, r.Raw)
			}
		}

		r = admin.MustDo("GET", path, nil, http.StatusOK)
		if n := len(r.Body["registration_tokens"].([]any)); n != 3 {
			t.Fatalf("listed %d tokens; want 3: %s", n, r.Raw)
		}
		// uses_allowed 0 makes a token invalid from the start.
		r = admin.MustDo("GET", path+"?valid=false", nil, http.StatusOK)
		if l := r.Body["registration_tokens"].([]any); len(l) != 1 || l[0].(map[string]any)["token"] != "mine-1.2_3~" {
			t.Fatalf("valid=false = %s", r.Raw)
		}
		if n := len(admin.MustDo("GET", path+"?valid=true", nil, http.StatusOK).Body["registration_tokens"].([]any)); n != 2 {
			t.Fatalf("valid=true listed %d tokens; want 2", n)
		}

		future := time.Now().Add(time.Hour).UnixMilli()
		r = admin.MustDo("PUT", path+"/mine-1.2_3~", map[string]any{"uses_allowed": 5, "expiry_time": future}, http.StatusOK)
		if r.Body["uses_allowed"] != float64(5) || r.Body["expiry_time"] != float64(future) {
			t.Fatalf("PUT = %s", r.Raw)
		}
		// Absent keys stay; null means unlimited.
		r = admin.MustDo("PUT", path+"/mine-1.2_3~", map[string]any{"uses_allowed": nil}, http.StatusOK)
		if r.Body["uses_allowed"] != nil || r.Body["expiry_time"] != float64(future) {
			t.Fatalf("PUT uses_allowed: null = %s", r.Raw)
		}
		wantErr(t, "PUT past expiry", admin.Do("PUT", path+"/mine-1.2_3~", map[string]any{"expiry_time": 5}), http.StatusBadRequest, "M_INVALID_PARAM")
		wantErr(t, "PUT wrong type", admin.Do("PUT", path+"/mine-1.2_3~", map[string]any{"uses_allowed": "many"}), http.StatusBadRequest, "M_BAD_JSON")

		for _, method := range []string{"GET", "PUT", "DELETE"} {
			wantErr(t, method+" unknown token", admin.Do(method, path+"/unknown", map[string]any{}), http.StatusNotFound, "M_NOT_FOUND")
			wantErr(t, method+" invalid token", admin.Do(method, path+"/has%20space", map[string]any{}), http.StatusNotFound, "M_NOT_FOUND")
		}
		admin.MustDo("DELETE", path+"/mine-1.2_3~", nil, http.StatusOK)
		wantErr(t, "deleted token", admin.Do("GET", path+"/mine-1.2_3~", nil), http.StatusNotFound, "M_NOT_FOUND")
	})
}

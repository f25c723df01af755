package clientapi_test

import (
	"net/http"
	"slices"
	"testing"
)

// TestChangePassword covers POST /account/password through the
// "User-Interactive Authentication API" (m.login.password).
func TestChangePassword(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := start(t, engine, nil)
		alice := srv.Register(t, "alice", password)
		other := srv.Login(t, "alice", password)
		path := v3 + "/account/password"
		newPassword := "a much better password"

		// The challenge offers m.login.password.
		r := alice.Do("POST", path, map[string]any{"new_password": newPassword})
		if r.Status != http.StatusUnauthorized || !slices.Equal(flowsOf(t, r), []string{"m.login.password"}) {
			t.Fatalf("challenge = %d %s; want 401 with an m.login.password flow", r.Status, r.Raw)
		}
		session := r.String("session")

		// "If the homeserver decides that an attempt on a stage was
		// unsuccessful, but the client may make a second attempt, it
		// returns the same HTTP status 401 response as above, with the
		// addition of the standard errcode and error fields."
		r = alice.Do("POST", path, map[string]any{"new_password": newPassword, "auth": passwordAuth(session, alice.UserID, "wrong")})
		wantErr(t, "wrong password stage", r, http.StatusUnauthorized, "M_FORBIDDEN")
		if len(flowsOf(t, r)) == 0 || r.String("session") != session {
			t.Fatalf("failed stage = %s; want the challenge with flows and the same session", r.Raw)
		}
		// Another user's correct password does not authenticate alice.
		srv.Register(t, "bob", password)
		r = alice.Do("POST", path, map[string]any{"new_password": newPassword, "auth": passwordAuth(session, "@bob:chappe.test", password)})
		wantErr(t, "bob's password for alice", r, http.StatusUnauthorized, "M_FORBIDDEN")

		wantErr(t, "weak new password", alice.Do("POST", path, map[string]any{"new_password": "short",
			"auth": passwordAuth(session, alice.UserID, password)}), http.StatusBadRequest, "M_WEAK_PASSWORD")
		wantErr(t, "missing new password", alice.Do("POST", path, map[string]any{
			"auth": passwordAuth(session, alice.UserID, password)}), http.StatusBadRequest, "M_MISSING_PARAM")
		wantErr(t, "without access token", srv.Client(t).Do("POST", path, map[string]any{"new_password": newPassword}),
			http.StatusUnauthorized, "M_MISSING_TOKEN")

		// The session survives failed attempts and completes with the
		// right password.
		alice.MustDo("POST", path, map[string]any{"new_password": newPassword, "auth": passwordAuth(session, "alice", password)}, http.StatusOK)

		// logout_devices defaults to true: other devices go, this one stays
		// ("The homeserver SHOULD NOT revoke the access token provided in
		// the request").
		alice.MustDo("GET", v3+"/account/whoami", nil, http.StatusOK)
		wantErr(t, "other device after password change", other.Do("GET", v3+"/account/whoami", nil), http.StatusUnauthorized, "M_UNKNOWN_TOKEN")

		wantErr(t, "old password", srv.Client(t).Do("POST", v3+"/login", passwordLogin("alice", password)), http.StatusForbidden, "M_FORBIDDEN")
		third := srv.Login(t, "alice", newPassword)

		// logout_devices: false keeps the other devices.
		r = withUIA(t, alice, "POST", path, map[string]any{"new_password": password, "logout_devices": false}, newPassword)
		if r.Status != http.StatusOK {
			t.Fatalf("change with logout_devices false = %d %s", r.Status, r.Raw)
		}
		third.MustDo("GET", v3+"/account/whoami", nil, http.StatusOK)
		srv.Login(t, "alice", password)
	})
}

// TestDeactivate covers POST /account/deactivate.
func TestDeactivate(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := start(t, engine, nil)
		alice := srv.Register(t, "alice", password)
		other := srv.Login(t, "alice", password)
		alice.MustDo("PUT", v3+"/profile/@alice:chappe.test/displayname", map[string]any{"displayname": "Alice"}, http.StatusOK)
		path := v3 + "/account/deactivate"

		r := alice.Do("POST", path, map[string]any{})
		if r.Status != http.StatusUnauthorized || !slices.Equal(flowsOf(t, r), []string{"m.login.password"}) {
			t.Fatalf("challenge = %d %s", r.Status, r.Raw)
		}
		wantErr(t, "wrong password", alice.Do("POST", path, map[string]any{"auth": passwordAuth(r.String("session"), alice.UserID, "nope")}),
			http.StatusUnauthorized, "M_FORBIDDEN")
		alice.MustDo("GET", v3+"/account/whoami", nil, http.StatusOK)

		r = withUIA(t, alice, "POST", path, map[string]any{}, password)
		if r.Status != http.StatusOK || r.String("id_server_unbind_result") == "" {
			t.Fatalf("deactivate = %d %s; want 200 with id_server_unbind_result", r.Status, r.Raw)
		}
		for _, c := range []string{alice.Token, other.Token} {
			wantErr(t, "token after deactivation", as(alice, c).Do("GET", v3+"/account/whoami", nil), http.StatusUnauthorized, "M_UNKNOWN_TOKEN")
		}
		anon := srv.Client(t)
		wantErr(t, "login after deactivation", anon.Do("POST", v3+"/login", passwordLogin("alice", password)), http.StatusForbidden, "M_FORBIDDEN")
		// User IDs are never reused.
		wantErr(t, "available after deactivation", anon.Do("GET", v3+"/register/available?username=alice", nil), http.StatusBadRequest, "M_USER_IN_USE")
		wantErr(t, "register after deactivation", anon.Do("POST", v3+"/register", map[string]any{"username": "alice", "password": password}),
			http.StatusBadRequest, "M_USER_IN_USE")
		wantErr(t, "profile after deactivation", anon.Do("GET", v3+"/profile/@alice:chappe.test", nil), http.StatusNotFound, "M_NOT_FOUND")
	})
}

// TestUIASessionBinding: a UIA session authorises the one action, for the
// one user, it was started for ("User-Interactive Authentication API":
// the session is used "in subsequent attempts to authenticate in the same
// API call").
func TestUIASessionBinding(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := start(t, engine, nil)
		alice := srv.Register(t, "alice", password)
		aliceOther := srv.Login(t, "alice", password)
		bob := srv.Register(t, "bob", password)
		bobOther := srv.Login(t, "bob", password)

		// Alice starts a session to delete a device and half-completes
		// nothing; bob tries to use it with his own password.
		r := alice.Do("POST", v3+"/delete_devices", map[string]any{"devices": []string{aliceOther.DeviceID}})
		aliceSession := r.String("session")
		r = bob.Do("POST", v3+"/delete_devices", map[string]any{"devices": []string{bobOther.DeviceID},
			"auth": passwordAuth(aliceSession, bob.UserID, password)})
		if r.Status == http.StatusOK {
			t.Fatal("bob used alice's UIA session")
		}
		wantNo500(t, "bob with alice's session", r)
		bobOther.MustDo("GET", v3+"/account/whoami", nil, http.StatusOK)

		// A session started for deleting devices cannot change the
		// password, even once the password stage is done in it.
		r = alice.Do("POST", v3+"/account/password", map[string]any{"new_password": "another password",
			"auth": passwordAuth(aliceSession, alice.UserID, password)})
		if r.Status == http.StatusOK {
			t.Fatal("a delete_devices session changed the password")
		}
		wantNo500(t, "delete_devices session for password", r)
		srv.Login(t, "alice", password)

		// A session started for registration cannot delete devices.
		reg := srv.Client(t).Do("POST", v3+"/register", map[string]any{"username": "carol", "password": password})
		r = alice.Do("POST", v3+"/delete_devices", map[string]any{"devices": []string{aliceOther.DeviceID},
			"auth": map[string]any{"type": "m.login.dummy", "session": reg.String("session")}})
		if r.Status == http.StatusOK {
			t.Fatal("a registration session deleted a device")
		}
		wantNo500(t, "register session for delete_devices", r)
		// Nor can m.login.dummy stand in for the password.
		r = alice.Do("POST", v3+"/delete_devices", map[string]any{"devices": []string{aliceOther.DeviceID},
			"auth": map[string]any{"type": "m.login.dummy", "session": aliceSession}})
		if r.Status == http.StatusOK {
			t.Fatal("m.login.dummy authorised deleting a device")
		}
		wantNo500(t, "dummy for delete_devices", r)
		aliceOther.MustDo("GET", v3+"/account/whoami", nil, http.StatusOK)

		// And the session still works for its own action and user.
		alice.MustDo("POST", v3+"/delete_devices", map[string]any{"devices": []string{aliceOther.DeviceID},
			"auth": passwordAuth(aliceSession, alice.UserID, password)}, http.StatusOK)
		wantErr(t, "deleted device", aliceOther.Do("GET", v3+"/account/whoami", nil), http.StatusUnauthorized, "M_UNKNOWN_TOKEN")
		// A completed session is spent.
		r = alice.Do("POST", v3+"/delete_devices", map[string]any{"devices": []string{}, "auth": map[string]any{"session": aliceSession}})
		if r.Status == http.StatusOK {
			t.Fatal("a completed UIA session authorised a second request")
		}
		wantNo500(t, "spent session", r)
	})
}

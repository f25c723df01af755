package clientapi_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestProfile covers "Profiles": GET /profile/{userId}, and GET, PUT and
// DELETE /profile/{userId}/{keyName} with custom fields (v1.16).
func TestProfile(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := start(t, engine, nil)
		alice := srv.Register(t, "alice", password)
		bob := srv.Register(t, "bob", password)
		anon := srv.Client(t)
		me := v3 + "/profile/" + url.PathEscape(alice.UserID)

		t.Run("fields", func(t *testing.T) {
			for key, value := range map[string]any{
				"displayname":        "Alice Wonderland",
				"avatar_url":         "mxc://chappe.test/abc123",
				"m.tz":               "Europe/Paris",
				"org.example.custom": map[string]any{"nested": []any{1.0, "two", true}},
				"org.example.number": 42.0,
			} {
				alice.MustDo("PUT", me+"/"+key, map[string]any{key: value}, http.StatusOK)
				r := anon.MustDo("GET", me+"/"+key, nil, http.StatusOK)
				got, _ := json.Marshal(r.Body[key])
				want, _ := json.Marshal(value)
				if string(got) != string(want) || len(r.Body) != 1 {
					t.Fatalf("GET %s = %s; want {%q: %s}", key, r.Raw, key, want)
				}
			}
			r := anon.MustDo("GET", me, nil, http.StatusOK)
			if r.String("displayname") != "Alice Wonderland" || r.String("avatar_url") != "mxc://chappe.test/abc123" ||
				r.String("m.tz") != "Europe/Paris" || r.Body["org.example.number"] != 42.0 {
				t.Fatalf("GET full profile = %s", r.Raw)
			}
			alice.MustDo("PUT", me+"/displayname", map[string]any{"displayname": "Alice"}, http.StatusOK)
			if r := anon.MustDo("GET", me+"/displayname", nil, http.StatusOK); r.String("displayname") != "Alice" {
				t.Fatalf("displayname after update = %s", r.Raw)
			}
		})

		t.Run("delete", func(t *testing.T) {
			alice.MustDo("PUT", me+"/org.example.gone", map[string]any{"org.example.gone": "soon"}, http.StatusOK)
			alice.MustDo("DELETE", me+"/org.example.gone", nil, http.StatusOK)
			wantErr(t, "deleted field", anon.Do("GET", me+"/org.example.gone", nil), http.StatusNotFound, "M_NOT_FOUND")
			if _, ok := anon.MustDo("GET", me, nil, http.StatusOK).Body["org.example.gone"]; ok {
				t.Fatal("deleted field still in the full profile")
			}
			// "The profile field was deleted or it doesn't exist."
			alice.MustDo("DELETE", me+"/org.example.never", nil, http.StatusOK)
		})

		t.Run("unknown users", func(t *testing.T) {
			for _, u := range []string{"@nobody:chappe.test", "@alice:elsewhere.test"} {
				wantErr(t, "profile of "+u, anon.Do("GET", v3+"/profile/"+url.PathEscape(u), nil), http.StatusNotFound, "M_NOT_FOUND")
				wantErr(t, "displayname of "+u, anon.Do("GET", v3+"/profile/"+url.PathEscape(u)+"/displayname", nil), http.StatusNotFound, "M_NOT_FOUND")
			}
			wantErr(t, "unset field", anon.Do("GET", v3+"/profile/"+url.PathEscape(bob.UserID)+"/displayname", nil), http.StatusNotFound, "M_NOT_FOUND")
			r := anon.MustDo("GET", v3+"/profile/"+url.PathEscape(bob.UserID), nil, http.StatusOK)
			if len(r.Body) != 0 {
				t.Fatalf("empty profile = %s; want {}", r.Raw)
			}
			for _, bad := range []string{"alice", "@", "@alice", strings.Repeat("@a", 200) + ":chappe.test"} {
				r := anon.Do("GET", v3+"/profile/"+url.PathEscape(bad), nil)
				if r.Status != http.StatusBadRequest && r.Status != http.StatusNotFound {
					t.Fatalf("profile of %q = %d %s; want 400 or 404", bad, r.Status, r.Raw)
				}
			}
		})

		t.Run("someone else's profile", func(t *testing.T) {
			bobs := v3 + "/profile/" + url.PathEscape(bob.UserID)
			wantErr(t, "PUT bob's displayname", alice.Do("PUT", bobs+"/displayname", map[string]any{"displayname": "Bobby"}), http.StatusForbidden, "M_FORBIDDEN")
			wantErr(t, "DELETE bob's displayname", alice.Do("DELETE", bobs+"/displayname", nil), http.StatusForbidden, "M_FORBIDDEN")
			wantErr(t, "PUT a stranger's displayname", alice.Do("PUT", v3+"/profile/%40x%3Achappe.test/displayname", map[string]any{"displayname": "X"}),
				http.StatusForbidden, "M_FORBIDDEN")
			wantErr(t, "PUT without token", anon.Do("PUT", me+"/displayname", map[string]any{"displayname": "X"}), http.StatusUnauthorized, "M_MISSING_TOKEN")
			wantErr(t, "DELETE without token", anon.Do("DELETE", me+"/displayname", nil), http.StatusUnauthorized, "M_MISSING_TOKEN")
		})

		t.Run("invalid keys and values", func(t *testing.T) {
			for _, key := range []string{"Displayname", "custom", "org.Example.x", "org..x", "1org.x", "org.x-y", "m.tz.", "org.ex%20ample"} {
				wantErr(t, "PUT key "+key, alice.Do("PUT", me+"/"+key, map[string]any{key: "v"}), http.StatusBadRequest, "M_INVALID_PARAM")
				wantErr(t, "GET key "+key, alice.Do("GET", me+"/"+key, nil), http.StatusBadRequest, "M_INVALID_PARAM")
				wantErr(t, "DELETE key "+key, alice.Do("DELETE", me+"/"+key, nil), http.StatusBadRequest, "M_INVALID_PARAM")
			}
			long := "org." + strings.Repeat("a", 252) // 256 bytes
			wantErr(t, "256-byte key", alice.Do("PUT", me+"/"+long, map[string]any{long: "v"}), http.StatusBadRequest, "M_KEY_TOO_LARGE")
			ok := "org." + strings.Repeat("a", 251) // 255 bytes
			alice.MustDo("PUT", me+"/"+ok, map[string]any{ok: "v"}, http.StatusOK)
			alice.MustDo("DELETE", me+"/"+ok, nil, http.StatusOK)

			for name, body := range map[string]map[string]any{
				"avatar_url over http":  {"avatar_url": "https://example.org/a.png"},
				"avatar_url a number":   {"avatar_url": 5},
				"displayname an object": {"displayname": map[string]any{}},
				"displayname too long":  {"displayname": strings.Repeat("x", 1000)},
				"m.tz a number":         {"m.tz": 1},
			} {
				for key := range body {
					r := alice.Do("PUT", me+"/"+key, body)
					if r.Status != http.StatusBadRequest || (r.Errcode() != "M_BAD_JSON" && r.Errcode() != "M_INVALID_PARAM") {
						t.Fatalf("PUT %s = %d %s; want 400", name, r.Status, r.Raw)
					}
				}
			}
			wantErr(t, "PUT without the key", alice.Do("PUT", me+"/displayname", map[string]any{"avatar_url": "mxc://a/b"}), http.StatusBadRequest, "M_MISSING_PARAM")
			if r := anon.MustDo("GET", me+"/avatar_url", nil, http.StatusOK); r.String("avatar_url") != "mxc://chappe.test/abc123" {
				t.Fatalf("a refused PUT changed avatar_url: %s", r.Raw)
			}
		})

		t.Run("profile size", func(t *testing.T) {
			// "the total profile MUST be under 64 KiB": count bytes, not
			// characters. The stored field is 30,000 two-byte characters,
			// the new one 30,000 one-byte characters: 90 KB in all.
			wide := strings.Repeat("é", 30000)
			p := v3 + "/profile/" + url.PathEscape(bob.UserID)
			bob.MustDo("PUT", p+"/org.example.a", map[string]any{"org.example.a": wide}, http.StatusOK)
			r := bob.Do("PUT", p+"/org.example.b", map[string]any{"org.example.b": strings.Repeat("x", 30000)})
			wantErr(t, "profile over 64 KiB", r, http.StatusBadRequest, "M_PROFILE_TOO_LARGE")
			full := anon.MustDo("GET", p, nil, http.StatusOK)
			if len(full.Raw) >= 64*1024 {
				t.Fatalf("full profile is %d bytes; want under 64 KiB", len(full.Raw))
			}
			// Replacing a field counts its new size, not old plus new.
			bob.MustDo("PUT", p+"/org.example.a", map[string]any{"org.example.a": wide + "x"}, http.StatusOK)
			// A single field that is too big on its own.
			wantErr(t, "one 70 KB field", bob.Do("PUT", p+"/org.example.c", map[string]any{"org.example.c": strings.Repeat("x", 70000)}),
				http.StatusBadRequest, "M_PROFILE_TOO_LARGE")
			// Padding the value with whitespace does not change its size.
			bob.MustDo("DELETE", p+"/org.example.a", nil, http.StatusOK)
			padded := `{"org.example.a": [` + strings.Repeat(" ", 60000) + `1]}`
			bob.MustDo("PUT", p+"/org.example.a", padded, http.StatusOK)
			bob.MustDo("PUT", p+"/org.example.b", map[string]any{"org.example.b": strings.Repeat("x", 60000)}, http.StatusOK)
		})
	})
}

package clientapi_test

import (
	"net/http"
	"reflect"
	"sort"
	"testing"

	"chappe.eu/chappe/internal/testserver"
)

// dirSearch searches the user directory and returns the user IDs found,
// sorted, and limited.
func dirSearch(t *testing.T, c *testserver.Client, term string, limit int) ([]string, bool) {
	t.Helper()
	body := map[string]any{"search_term": term}
	if limit > 0 {
		body["limit"] = limit
	}
	r := c.MustDo("POST", v3+"/user_directory/search", body, http.StatusOK)
	ids := []string{}
	for _, u := range r.Body["results"].([]any) {
		ids = append(ids, u.(map[string]any)["user_id"].(string))
	}
	sort.Strings(ids)
	limited, ok := r.Body["limited"].(bool)
	if !ok {
		t.Fatalf("user directory search %q: no limited in %s", term, r.Raw)
	}
	return ids, limited
}

func setName(t *testing.T, c *testserver.Client, name string) {
	t.Helper()
	c.MustDo("PUT", v3+"/profile/"+c.UserID+"/displayname", map[string]any{"displayname": name}, http.StatusOK)
}

// TestUserDirectory: a user finds who shares a room with them and who is
// in a public or world-readable room, by localpart or display name word
// prefix, ignoring case and accents; not users in private rooms without
// them, nor deactivated users ("User directory").
func TestUserDirectory(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := start(t, engine, nil)
		alice := srv.Register(t, "alice", password)
		bob := srv.Register(t, "bob.smith", password)
		carol := srv.Register(t, "carol", password)
		dave := srv.Register(t, "dave", password)
		eve := srv.Register(t, "eve", password)
		frank := srv.Register(t, "frank", password)
		gina := srv.Register(t, "gina", password)
		setName(t, bob, "Bobby Tables")
		setName(t, carol, "Élodie Secret")
		setName(t, eve, "Eve Publique")
		setName(t, gina, "Gina Exemple")
		alice.MustDo("PUT", v3+"/profile/"+alice.UserID+"/avatar_url", map[string]any{"avatar_url": "mxc://chappe.test/a"}, http.StatusOK)

		shared := srchRoom(t, alice, map[string]any{"preset": "private_chat"})
		alice.MustDo("POST", srchPath(shared, "/invite"), map[string]any{"user_id": bob.UserID}, http.StatusOK)
		srchJoin(t, bob, shared)
		// carol and dave share a private room without alice.
		private := srchRoom(t, carol, map[string]any{"preset": "private_chat"})
		carol.MustDo("POST", srchPath(private, "/invite"), map[string]any{"user_id": dave.UserID}, http.StatusOK)
		srchJoin(t, dave, private)
		// eve is alone in a public room; frank in a world-readable one.
		eveRoom := srchRoom(t, eve, map[string]any{"preset": "public_chat"})
		wr := srchRoom(t, frank, map[string]any{"preset": "private_chat"})
		srchState(t, frank, wr, "m.room.history_visibility", map[string]any{"history_visibility": "world_readable"})
		// gina shares the room, then deactivates.
		alice.MustDo("POST", srchPath(shared, "/invite"), map[string]any{"user_id": gina.UserID}, http.StatusOK)
		srchJoin(t, gina, shared)

		for _, tt := range []struct {
			term string
			want []string
		}{
			{"bob", []string{bob.UserID}},
			{"BOB", []string{bob.UserID}},
			{"smi", []string{bob.UserID}},
			{"tab", []string{bob.UserID}},
			{"bobby tab", []string{bob.UserID}},
			{"bobby zed", []string{}},
			{"@bob.sm", []string{bob.UserID}},
			{"@bob.smith:chappe.test", []string{bob.UserID}},
			{"carol", []string{}},
			{"elodie", []string{}},
			{"dave", []string{}},
			{"eve", []string{eve.UserID}},
			{"publi", []string{eve.UserID}},
			{"frank", []string{frank.UserID}},
			{"gina", []string{gina.UserID}},
			{"", []string{}},
			{"   ", []string{}},
			{"@", []string{}},
		} {
			if got, _ := dirSearch(t, alice, tt.term, 0); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("alice searches %q: %v; want %v", tt.term, got, tt.want)
			}
		}
		// carol finds dave (they share a room) and, accent-insensitively,
		// herself.
		if got, _ := dirSearch(t, carol, "dav", 0); !reflect.DeepEqual(got, []string{dave.UserID}) {
			t.Errorf("carol searches dav: %v; want dave", got)
		}
		if got, _ := dirSearch(t, dave, "ELO", 0); !reflect.DeepEqual(got, []string{carol.UserID}) {
			t.Errorf("dave searches ELO: %v; want carol (Élodie)", got)
		}

		// Results carry the global profile.
		r := bob.MustDo("POST", v3+"/user_directory/search", map[string]any{"search_term": "alice"}, http.StatusOK)
		res := r.Body["results"].([]any)
		if len(res) != 1 || res[0].(map[string]any)["avatar_url"] != "mxc://chappe.test/a" {
			t.Errorf("bob searches alice: %s; want alice with her avatar", r.Raw)
		}
		if _, ok := res[0].(map[string]any)["display_name"]; ok {
			t.Errorf("alice has no display name, but the result has one: %s", r.Raw)
		}
		r = alice.MustDo("POST", v3+"/user_directory/search", map[string]any{"search_term": "bob"}, http.StatusOK)
		if res := r.Body["results"].([]any); len(res) != 1 || res[0].(map[string]any)["display_name"] != "Bobby Tables" {
			t.Errorf("alice searches bob: %s; want his display name", r.Raw)
		}

		// A new display name replaces the old one in the index.
		setName(t, bob, "Robert")
		if got, _ := dirSearch(t, alice, "rob", 0); !reflect.DeepEqual(got, []string{bob.UserID}) {
			t.Errorf("after the rename, rob finds %v; want bob", got)
		}
		if got, _ := dirSearch(t, alice, "tables", 0); len(got) != 0 {
			t.Errorf("after the rename, the old name still finds %v", got)
		}

		// limit and limited.
		if got, limited := dirSearch(t, alice, "e", 1); len(got) != 1 || !limited {
			t.Errorf("limit 1 of e = %v, limited %v; want 1 result, limited", got, limited)
		}
		if got, limited := dirSearch(t, alice, "eve", 5); len(got) != 1 || limited {
			t.Errorf("limit 5 of eve = %v, limited %v; want 1 result, not limited", got, limited)
		}

		// Deactivated users are never found.
		withUIA(t, gina, "POST", v3+"/account/deactivate", map[string]any{}, password)
		if got, _ := dirSearch(t, alice, "gina", 0); len(got) != 0 {
			t.Errorf("a deactivated user is found: %v", got)
		}

		// Sharing no room any more: not found.
		bob.MustDo("POST", srchPath(shared, "/leave"), map[string]any{}, http.StatusOK)
		if got, _ := dirSearch(t, alice, "rob", 0); len(got) != 0 {
			t.Errorf("bob left the only shared room, but alice finds %v", got)
		}
		// A room that stops being public hides its members again.
		srchState(t, eve, eveRoom, "m.room.join_rules", map[string]any{"join_rule": "invite"})
		if got, _ := dirSearch(t, alice, "eve", 0); len(got) != 0 {
			t.Errorf("eve's room is invite-only now, yet alice finds %v", got)
		}
	})
}

// TestUserDirectoryBadInput: missing or mistyped parameters are 400s.
func TestUserDirectoryBadInput(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := start(t, engine, nil)
		alice := srv.Register(t, "alice", password)
		path := v3 + "/user_directory/search"
		wantErr(t, "no search_term", alice.Do("POST", path, map[string]any{}), http.StatusBadRequest, "M_MISSING_PARAM")
		wantErr(t, "search_term a number", alice.Do("POST", path, map[string]any{"search_term": 1}), http.StatusBadRequest, "M_BAD_JSON")
		wantErr(t, "negative limit", alice.Do("POST", path, map[string]any{"search_term": "a", "limit": -1}), http.StatusBadRequest, "M_INVALID_PARAM")
		wantErr(t, "limit a string", alice.Do("POST", path, map[string]any{"search_term": "a", "limit": "5"}), http.StatusBadRequest, "M_BAD_JSON")
		wantErr(t, "not JSON", alice.Do("POST", path, "nope"), http.StatusBadRequest, "M_NOT_JSON")
		wantErr(t, "no token", srv.Client(t).Do("POST", path, map[string]any{"search_term": "a"}), http.StatusUnauthorized, "M_MISSING_TOKEN")
		for _, term := range []string{"\u0000", "@\u0000", "@a\u0000b", "a\u0000", "\U0010FFFF", "@\U0010FFFF\U0010FFFF"} {
			wantNo500(t, "search "+term, alice.Do("POST", path, map[string]any{"search_term": term}))
		}
	})
}

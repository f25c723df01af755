package clientapi_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"chappe.eu/chappe/internal/config"
	"chappe.eu/chappe/internal/testserver"
)

// Helpers of the directory, public rooms and upgrade tests.

func aliasPath(alias string) string { return v3 + "/directory/room/" + url.PathEscape(alias) }

func dirRoomPath(roomID, suffix string) string {
	return v3 + "/rooms/" + url.PathEscape(roomID) + suffix
}

func listPath(roomID string) string { return v3 + "/directory/list/room/" + url.PathEscape(roomID) }

// dirServer starts a server with a shared secret, so that tests can make
// a server admin.
func dirServer(t *testing.T, engine string) *testserver.Server {
	t.Helper()
	return start(t, engine, func(c *config.Config) { c.Registration.SharedSecret = sharedSecret })
}

// dirServerB starts a SQLite server for a benchmark.
func dirServerB(b *testing.B) *testserver.Server {
	b.Helper()
	return testserver.Start(b, "sqlite", nil)
}

// newRoom creates a room and returns its ID.
func newRoom(t *testing.T, c *testserver.Client, body map[string]any) string {
	t.Helper()
	id := c.MustDo("POST", v3+"/createRoom", body, http.StatusOK).String("room_id")
	if id == "" {
		t.Fatal("createRoom returned no room_id")
	}
	return id
}

// putState sends a state event and fails the test unless it is accepted.
func putState(t *testing.T, c *testserver.Client, roomID, typ, key string, content any) string {
	t.Helper()
	return c.MustDo("PUT", dirRoomPath(roomID, "/state/"+typ+"/"+url.PathEscape(key)), content, http.StatusOK).String("event_id")
}

// getState returns the content of a state event, failing unless it exists.
func getState(t *testing.T, c *testserver.Client, roomID, typ, key string) *testserver.Response {
	t.Helper()
	return c.MustDo("GET", dirRoomPath(roomID, "/state/"+typ+"/"+url.PathEscape(key)), nil, http.StatusOK)
}

func join(t *testing.T, c *testserver.Client, roomID string) {
	t.Helper()
	c.MustDo("POST", v3+"/join/"+url.PathEscape(roomID), map[string]any{}, http.StatusOK)
}

// TestAliases covers PUT, GET and DELETE /directory/room/{roomAlias} and
// GET /rooms/{roomId}/aliases ("Room aliases").
func TestAliases(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := dirServer(t, engine)
		alice := srv.Register(t, "alice", password)
		bob := srv.Register(t, "bob", password)
		carol := srv.Register(t, "carol", password)
		admin := sharedSecretRegister(t, srv, "root", password, true)
		anon := srv.Client(t)
		room := newRoom(t, alice, map[string]any{"preset": "public_chat"})
		other := newRoom(t, alice, map[string]any{"preset": "public_chat"})

		alice.MustDo("PUT", aliasPath("#foo:chappe.test"), map[string]any{"room_id": room}, http.StatusOK)
		r := anon.MustDo("GET", aliasPath("#foo:chappe.test"), nil, http.StatusOK)
		if r.String("room_id") != room || fmt.Sprint(r.Body["servers"]) != "[chappe.test]" {
			t.Errorf("GET alias = %s; want room_id %s and servers [chappe.test]", r.Raw, room)
		}

		t.Run("errors", func(t *testing.T) {
			for _, tc := range []struct {
				what    string
				c       *testserver.Client
				method  string
				path    string
				body    any
				status  int
				errcode string
			}{
				{"taken", alice, "PUT", aliasPath("#foo:chappe.test"), map[string]any{"room_id": other}, 409, "M_UNKNOWN"},
				{"not an alias", alice, "PUT", aliasPath("foo"), map[string]any{"room_id": room}, 400, "M_INVALID_PARAM"},
				{"no server", alice, "PUT", aliasPath("#foo"), map[string]any{"room_id": room}, 400, "M_INVALID_PARAM"},
				{"remote", alice, "PUT", aliasPath("#foo:elsewhere.example"), map[string]any{"room_id": room}, 400, "M_INVALID_PARAM"},
				{"no room_id", alice, "PUT", aliasPath("#x:chappe.test"), map[string]any{}, 400, "M_MISSING_PARAM"},
				{"bad room_id", alice, "PUT", aliasPath("#x:chappe.test"), map[string]any{"room_id": "nope"}, 400, "M_INVALID_PARAM"},
				{"room_id not a string", alice, "PUT", aliasPath("#x:chappe.test"), map[string]any{"room_id": 5}, 400, "M_BAD_JSON"},
				{"not JSON", alice, "PUT", aliasPath("#x:chappe.test"), "{", 400, "M_NOT_JSON"},
				{"not in the room", bob, "PUT", aliasPath("#x:chappe.test"), map[string]any{"room_id": room}, 403, "M_FORBIDDEN"},
				{"unknown room", bob, "PUT", aliasPath("#x:chappe.test"), map[string]any{"room_id": "!nope:chappe.test"}, 403, "M_FORBIDDEN"},
				{"admin, unknown room", admin, "PUT", aliasPath("#x:chappe.test"), map[string]any{"room_id": "!nope:chappe.test"}, 404, "M_NOT_FOUND"},
				{"anonymous PUT", anon, "PUT", aliasPath("#x:chappe.test"), map[string]any{"room_id": room}, 401, "M_MISSING_TOKEN"},
				{"unknown alias", anon, "GET", aliasPath("#nope:chappe.test"), nil, 404, "M_NOT_FOUND"},
				{"remote alias", anon, "GET", aliasPath("#nope:elsewhere.example"), nil, 404, "M_NOT_FOUND"},
				{"GET not an alias", anon, "GET", aliasPath("nope"), nil, 400, "M_INVALID_PARAM"},
				{"DELETE unknown", alice, "DELETE", aliasPath("#nope:chappe.test"), nil, 404, "M_NOT_FOUND"},
				{"DELETE not an alias", alice, "DELETE", aliasPath("nope"), nil, 400, "M_INVALID_PARAM"},
				{"DELETE without permission", carol, "DELETE", aliasPath("#foo:chappe.test"), nil, 403, "M_FORBIDDEN"},
				{"aliases of unknown room", alice, "GET", dirRoomPath("!nope:chappe.test", "/aliases"), nil, 403, "M_FORBIDDEN"},
				{"aliases as non-member", carol, "GET", dirRoomPath(room, "/aliases"), nil, 403, "M_FORBIDDEN"},
				{"aliases of bad room ID", alice, "GET", dirRoomPath("nope", "/aliases"), nil, 403, "M_FORBIDDEN"},
			} {
				wantErr(t, tc.what, tc.c.Do(tc.method, tc.path, tc.body), tc.status, tc.errcode)
			}
			// Unknown room and not-a-member must read the same.
			a := bob.Do("PUT", aliasPath("#x:chappe.test"), map[string]any{"room_id": room})
			b := bob.Do("PUT", aliasPath("#x:chappe.test"), map[string]any{"room_id": "!nope:chappe.test"})
			if string(a.Raw) != string(b.Raw) {
				t.Errorf("not a member = %s, unknown room = %s; want the same answer", a.Raw, b.Raw)
			}
		})

		t.Run("members list aliases", func(t *testing.T) {
			join(t, bob, room)
			bob.MustDo("PUT", aliasPath("#bobs:chappe.test"), map[string]any{"room_id": room}, http.StatusOK)
			for _, c := range []*testserver.Client{alice, bob, admin} {
				got := bodyList(t, c.MustDo("GET", dirRoomPath(room, "/aliases"), nil, http.StatusOK), "aliases")
				if fmt.Sprint(got) != "[#bobs:chappe.test #foo:chappe.test]" {
					t.Errorf("aliases as %s = %v; want [#bobs:chappe.test #foo:chappe.test]", c.UserID, got)
				}
			}
			if got := bodyList(t, alice.MustDo("GET", dirRoomPath(other, "/aliases"), nil, http.StatusOK), "aliases"); len(got) != 0 {
				t.Errorf("aliases of a room without any = %v; want []", got)
			}
			// A world_readable room lists them to anyone with an account.
			putState(t, alice, room, "m.room.history_visibility", "", map[string]any{"history_visibility": "world_readable"})
			carol.MustDo("GET", dirRoomPath(room, "/aliases"), nil, http.StatusOK)
			putState(t, alice, room, "m.room.history_visibility", "", map[string]any{"history_visibility": "shared"})
			wantErr(t, "aliases after world_readable ends", carol.Do("GET", dirRoomPath(room, "/aliases"), nil), 403, "M_FORBIDDEN")
		})

		t.Run("delete", func(t *testing.T) {
			// bob (level 0) may delete his own alias but not alice's.
			wantErr(t, "bob deletes alice's alias", bob.Do("DELETE", aliasPath("#foo:chappe.test"), nil), 403, "M_FORBIDDEN")
			bob.MustDo("DELETE", aliasPath("#bobs:chappe.test"), nil, http.StatusOK)
			wantErr(t, "deleted alias", anon.Do("GET", aliasPath("#bobs:chappe.test"), nil), 404, "M_NOT_FOUND")
			wantErr(t, "deleting twice", bob.Do("DELETE", aliasPath("#bobs:chappe.test"), nil), 404, "M_NOT_FOUND")
			// alice (power to send m.room.canonical_alias) may delete bob's.
			bob.MustDo("PUT", aliasPath("#bobs2:chappe.test"), map[string]any{"room_id": room}, http.StatusOK)
			alice.MustDo("DELETE", aliasPath("#bobs2:chappe.test"), nil, http.StatusOK)
			// A server admin may delete anyone's, in rooms they are not in.
			alice.MustDo("PUT", aliasPath("#a3:chappe.test"), map[string]any{"room_id": room}, http.StatusOK)
			admin.MustDo("DELETE", aliasPath("#a3:chappe.test"), nil, http.StatusOK)
			// and create aliases for rooms they are not in.
			admin.MustDo("PUT", aliasPath("#byadmin:chappe.test"), map[string]any{"room_id": room}, http.StatusOK)
			if got := anon.MustDo("GET", aliasPath("#byadmin:chappe.test"), nil, http.StatusOK).String("room_id"); got != room {
				t.Errorf("admin's alias points to %s; want %s", got, room)
			}
		})

		t.Run("delete updates the canonical alias", func(t *testing.T) {
			alice.MustDo("PUT", aliasPath("#main:chappe.test"), map[string]any{"room_id": other}, http.StatusOK)
			alice.MustDo("PUT", aliasPath("#alt:chappe.test"), map[string]any{"room_id": other}, http.StatusOK)
			putState(t, alice, other, "m.room.canonical_alias", "", map[string]any{"alias": "#main:chappe.test", "alt_aliases": []string{"#alt:chappe.test"}})
			alice.MustDo("DELETE", aliasPath("#alt:chappe.test"), nil, http.StatusOK)
			r := getState(t, alice, other, "m.room.canonical_alias", "")
			if r.String("alias") != "#main:chappe.test" || fmt.Sprint(r.Body["alt_aliases"]) != "[]" {
				t.Errorf("canonical alias after deleting the alt = %s; want alias kept, alt_aliases []", r.Raw)
			}
			alice.MustDo("DELETE", aliasPath("#main:chappe.test"), nil, http.StatusOK)
			if r := getState(t, alice, other, "m.room.canonical_alias", ""); r.Body["alias"] != nil {
				t.Errorf("canonical alias after deleting it = %s; want no alias", r.Raw)
			}
		})
	})
}

// TestCanonicalAliasValidation: PUT /state of m.room.canonical_alias
// checks the aliases it adds (M_INVALID_PARAM, M_BAD_ALIAS) and only
// those.
func TestCanonicalAliasValidation(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := dirServer(t, engine)
		alice := srv.Register(t, "alice", password)
		bob := srv.Register(t, "bob", password)
		room := newRoom(t, alice, map[string]any{"preset": "public_chat", "room_alias_name": "home"})
		other := newRoom(t, alice, map[string]any{"preset": "public_chat", "room_alias_name": "away"})
		alice.MustDo("PUT", aliasPath("#second:chappe.test"), map[string]any{"room_id": room}, http.StatusOK)
		path := dirRoomPath(room, "/state/m.room.canonical_alias")

		for _, tc := range []struct {
			what    string
			content any
			status  int
			errcode string
		}{
			{"unknown alias", map[string]any{"alias": "#nope:chappe.test"}, 400, "M_BAD_ALIAS"},
			{"another room's alias", map[string]any{"alias": "#away:chappe.test"}, 400, "M_BAD_ALIAS"},
			{"another room's alias in alt_aliases", map[string]any{"alias": "#home:chappe.test", "alt_aliases": []string{"#away:chappe.test"}}, 400, "M_BAD_ALIAS"},
			{"remote alias", map[string]any{"alt_aliases": []string{"#home:elsewhere.example"}}, 400, "M_BAD_ALIAS"},
			{"not an alias", map[string]any{"alias": "home"}, 400, "M_INVALID_PARAM"},
			{"alias not a string", map[string]any{"alias": 5}, 400, "M_INVALID_PARAM"},
			{"alt_aliases not a list", map[string]any{"alt_aliases": "#home:chappe.test"}, 400, "M_INVALID_PARAM"},
			{"alt_aliases of non-strings", map[string]any{"alt_aliases": []any{1}}, 400, "M_INVALID_PARAM"},
		} {
			wantErr(t, tc.what, alice.Do("PUT", path, tc.content), tc.status, tc.errcode)
		}
		if r := getState(t, alice, room, "m.room.canonical_alias", ""); r.String("alias") != "#home:chappe.test" {
			t.Errorf("canonical alias after refused updates = %s; want createRoom's #home:chappe.test", r.Raw)
		}

		putState(t, alice, room, "m.room.canonical_alias", "", map[string]any{"alias": "#second:chappe.test", "alt_aliases": []string{"#home:chappe.test"}})
		putState(t, alice, room, "m.room.canonical_alias", "", map[string]any{"alias": nil, "alt_aliases": nil})
		putState(t, alice, room, "m.room.canonical_alias", "", map[string]any{"alias": "#home:chappe.test", "alt_aliases": []string{"#second:chappe.test"}})

		// An alias already in the event is not checked again, even if it
		// no longer points here (deleted behind the server's back).
		execSQL(t, srv, `DELETE FROM room_aliases WHERE alias = '#second:chappe.test'`)
		putState(t, alice, room, "m.room.canonical_alias", "", map[string]any{"alias": "#home:chappe.test", "alt_aliases": []string{"#second:chappe.test"}, "x": 1})
		// Removing aliases is never checked.
		putState(t, alice, room, "m.room.canonical_alias", "", map[string]any{})

		// Someone not in the room learns nothing about the aliases: the
		// authorization rules answer first.
		wantErr(t, "non-member, bad alias", bob.Do("PUT", path, map[string]any{"alias": "#nope:chappe.test"}), 403, "M_FORBIDDEN")
		wantErr(t, "non-member, good alias", bob.Do("PUT", path, map[string]any{"alias": "#home:chappe.test"}), 403, "M_FORBIDDEN")
		// A member without the power is refused by the rules, after the
		// aliases are found good.
		join(t, bob, room)
		wantErr(t, "member without power", bob.Do("PUT", path, map[string]any{"alias": "#home:chappe.test"}), 403, "M_FORBIDDEN")
		_ = other
	})
}

// TestDirectoryVisibility covers GET and PUT /directory/list/room/{roomId}
// and createRoom's visibility.
func TestDirectoryVisibility(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := dirServer(t, engine)
		alice := srv.Register(t, "alice", password)
		bob := srv.Register(t, "bob", password)
		admin := sharedSecretRegister(t, srv, "root", password, true)
		anon := srv.Client(t)
		pub := newRoom(t, alice, map[string]any{"preset": "public_chat", "visibility": "public"})
		priv := newRoom(t, alice, map[string]any{"preset": "public_chat"})

		visibility := func(c *testserver.Client, roomID string) string {
			t.Helper()
			return c.MustDo("GET", listPath(roomID), nil, http.StatusOK).String("visibility")
		}
		if got := visibility(anon, pub); got != "public" {
			t.Errorf("createRoom visibility public: GET as anonymous = %q; want public", got)
		}
		if got := visibility(alice, priv); got != "private" {
			t.Errorf("createRoom without visibility: GET as member = %q; want private", got)
		}
		if got := visibility(admin, priv); got != "private" {
			t.Errorf("GET as admin = %q; want private", got)
		}
		// An unpublished room is unknown to whoever may not see it.
		for _, tc := range []struct {
			what string
			c    *testserver.Client
			room string
		}{
			{"anonymous, private room", anon, priv},
			{"non-member, private room", bob, priv},
			{"unknown room", alice, "!nope:chappe.test"},
			{"bad room ID", alice, "nope"},
		} {
			wantErr(t, "GET "+tc.what, tc.c.Do("GET", listPath(tc.room), nil), 404, "M_NOT_FOUND")
		}
		a, b := bob.Do("GET", listPath(priv), nil), bob.Do("GET", listPath("!nope:chappe.test"), nil)
		if string(a.Raw) != string(b.Raw) {
			t.Errorf("unseen room = %s, unknown room = %s; want the same answer", a.Raw, b.Raw)
		}

		// PUT: permissions and input.
		wantErr(t, "PUT by non-member", bob.Do("PUT", listPath(priv), map[string]any{"visibility": "public"}), 404, "M_NOT_FOUND")
		wantErr(t, "PUT unknown room", alice.Do("PUT", listPath("!nope:chappe.test"), map[string]any{"visibility": "public"}), 404, "M_NOT_FOUND")
		wantErr(t, "PUT anonymous", anon.Do("PUT", listPath(priv), map[string]any{"visibility": "public"}), 401, "M_MISSING_TOKEN")
		wantErr(t, "PUT bad visibility", alice.Do("PUT", listPath(priv), map[string]any{"visibility": "secret"}), 400, "M_INVALID_PARAM")
		wantErr(t, "PUT visibility not a string", alice.Do("PUT", listPath(priv), map[string]any{"visibility": 1}), 400, "M_BAD_JSON")
		join(t, bob, priv)
		wantErr(t, "PUT by member without power", bob.Do("PUT", listPath(priv), map[string]any{"visibility": "public"}), 403, "M_FORBIDDEN")
		if got := visibility(bob, priv); got != "private" {
			t.Errorf("after a refused PUT: %q; want private", got)
		}

		alice.MustDo("PUT", listPath(priv), map[string]any{}, http.StatusOK) // the spec's default: public
		if got := visibility(anon, priv); got != "public" {
			t.Errorf("after PUT {}: %q; want public", got)
		}
		alice.MustDo("PUT", listPath(priv), map[string]any{"visibility": "public"}, http.StatusOK) // no change needed
		admin.MustDo("PUT", listPath(priv), map[string]any{"visibility": "private"}, http.StatusOK)
		if got := visibility(alice, priv); got != "private" {
			t.Errorf("after the admin's PUT private: %q; want private", got)
		}
		// A member with the power to send m.room.canonical_alias may.
		putState(t, alice, priv, "m.room.power_levels", "", map[string]any{"users": map[string]int{bob.UserID: 50}})
		bob.MustDo("PUT", listPath(priv), map[string]any{"visibility": "public"}, http.StatusOK)
		if got := visibility(anon, priv); got != "public" {
			t.Errorf("after bob's PUT public: %q; want public", got)
		}
		// Leaving loses the power.
		bob.MustDo("POST", dirRoomPath(priv, "/leave"), map[string]any{}, http.StatusOK)
		wantErr(t, "PUT after leaving", bob.Do("PUT", listPath(priv), map[string]any{"visibility": "private"}), 403, "M_FORBIDDEN")
		if !slices.Contains([]string{"public"}, visibility(anon, priv)) {
			t.Error("a refused PUT changed the visibility")
		}
	})
}

// TestDirectoryBadInput feeds NUL bytes, invalid UTF-8 and odd IDs to the
// directory, public rooms and upgrade endpoints: a 4xx each time, never a
// 500 (PostgreSQL refuses NUL and invalid UTF-8 in text).
func TestDirectoryBadInput(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := dirServer(t, engine)
		alice := srv.Register(t, "alice", password)
		admin := sharedSecretRegister(t, srv, "root", password, true)
		room := newRoom(t, alice, map[string]any{"preset": "public_chat", "visibility": "public"})
		spare := newRoom(t, alice, map[string]any{"preset": "public_chat"}) // upgraded by the sweep's good inputs
		token := func(raw string) string { return url.QueryEscape(base64URL(raw)) }
		for _, bad := range []string{"\x00", "\xff", "a\x00b", "\u202e", ":", "#", "!", "@", strings.Repeat("x", 300)} {
			for _, c := range []*testserver.Client{alice, admin} {
				for _, req := range []struct {
					method, path string
					body         any
				}{
					{"GET", aliasPath("#" + bad + ":chappe.test"), nil},
					{"GET", aliasPath(bad), nil},
					{"PUT", aliasPath("#" + bad + ":chappe.test"), map[string]any{"room_id": room}},
					{"PUT", aliasPath("#ok:chappe.test"), map[string]any{"room_id": "!" + bad + ":chappe.test"}},
					{"PUT", aliasPath("#ok:chappe.test"), map[string]any{"room_id": bad}},
					{"DELETE", aliasPath("#" + bad + ":chappe.test"), nil},
					{"DELETE", aliasPath("#x:" + bad), nil},
					{"GET", dirRoomPath("!"+bad+":chappe.test", "/aliases"), nil},
					{"GET", listPath("!" + bad + ":chappe.test"), nil},
					{"PUT", listPath("!" + bad + ":chappe.test"), map[string]any{"visibility": "public"}},
					{"PUT", listPath(room), map[string]any{"visibility": bad}},
					{"PUT", dirRoomPath(room, "/state/m.room.canonical_alias"), map[string]any{"alias": "#" + bad + ":chappe.test"}},
					{"PUT", dirRoomPath(room, "/state/m.room.canonical_alias"), map[string]any{"alt_aliases": []string{bad}}},
					{"GET", v3 + "/publicRooms?since=" + url.QueryEscape(bad), nil},
					{"GET", v3 + "/publicRooms?since=" + token("1|f|0|!"+bad), nil},
					{"GET", v3 + "/publicRooms?server=" + url.QueryEscape(bad), nil},
					{"POST", v3 + "/publicRooms", map[string]any{"filter": map[string]any{"generic_search_term": bad, "room_types": []string{bad}}}},
					{"POST", v3 + "/publicRooms", map[string]any{"third_party_instance_id": bad}},
					{"POST", dirRoomPath(spare, "/upgrade"), map[string]any{"new_version": bad}},
					{"POST", dirRoomPath("!"+bad+":chappe.test", "/upgrade"), map[string]any{"new_version": "11"}},
					{"POST", dirRoomPath(spare, "/upgrade"), map[string]any{"new_version": "12", "additional_creators": []string{"@" + bad + ":chappe.test"}}},
				} {
					wantNo500(t, fmt.Sprintf("%s %s %v", req.method, req.path, req.body), c.Do(req.method, req.path, req.body))
				}
			}
		}
		// The room is still whole after all that.
		if got := chunkIDs(t, alice.MustDo("GET", v3+"/publicRooms", nil, http.StatusOK)); !slices.Equal(got, []string{room}) {
			t.Errorf("publicRooms after the sweep = %v; want [%s]", got, room)
		}
	})
}

func base64URL(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

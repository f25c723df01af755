package clientapi_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"chappe.eu/chappe/internal/testserver"
)

// upgrade asks for a room upgrade and returns the replacement room.
func upgrade(t *testing.T, c *testserver.Client, roomID string, body map[string]any) string {
	t.Helper()
	id := c.MustDo("POST", dirRoomPath(roomID, "/upgrade"), body, http.StatusOK).String("replacement_room")
	if id == "" || id == roomID {
		t.Fatalf("upgrade returned replacement_room %q", id)
	}
	return id
}

// users returns the users map of power levels content.
func plUsers(r *testserver.Response) map[string]any {
	m, _ := r.Body["users"].(map[string]any)
	return m
}

// TestUpgradeRoomV10ToV12 upgrades a room with state, aliases, bans,
// power levels and a place in the directory from version 10 to 12
// ("Room Upgrades", server behaviour).
func TestUpgradeRoomV10ToV12(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := dirServer(t, engine)
		alice := srv.Register(t, "alice", password)
		bob := srv.Register(t, "bob", password)
		carol := srv.Register(t, "carol", password)
		dave := srv.Register(t, "dave", password)
		anon := srv.Client(t)
		old := newRoom(t, alice, map[string]any{"room_version": "10", "preset": "public_chat", "visibility": "public",
			"name": "Old", "topic": "Old topic", "room_alias_name": "club",
			"initial_state": []any{map[string]any{"type": "m.room.encryption", "content": map[string]any{"algorithm": "m.megolm.v1.aes-sha2"}}}})
		alice.MustDo("PUT", aliasPath("#club2:chappe.test"), map[string]any{"room_id": old}, http.StatusOK)
		putState(t, alice, old, "m.room.canonical_alias", "", map[string]any{"alias": "#club:chappe.test", "alt_aliases": []string{"#club2:chappe.test"}})
		putState(t, alice, old, "m.room.avatar", "", map[string]any{"url": "mxc://chappe.test/av"})
		putState(t, alice, old, "m.room.server_acl", "", map[string]any{"allow": []string{"*"}, "deny": []string{"bad.example"}, "allow_ip_literals": false})
		putState(t, alice, old, "m.room.history_visibility", "", map[string]any{"history_visibility": "world_readable"})
		join(t, bob, old)
		join(t, carol, old)
		pl := getState(t, alice, old, "m.room.power_levels", "").Body
		pl["users"].(map[string]any)[bob.UserID] = 50
		putState(t, alice, old, "m.room.power_levels", "", pl)
		alice.MustDo("POST", dirRoomPath(old, "/ban"), map[string]any{"user_id": carol.UserID, "reason": "spam"}, http.StatusOK)

		// Errors first: nothing may change.
		for _, tc := range []struct {
			what    string
			c       *testserver.Client
			room    string
			body    any
			status  int
			errcode string
		}{
			{"unknown version", alice, old, map[string]any{"new_version": "99"}, 400, "M_UNSUPPORTED_ROOM_VERSION"},
			{"empty version", alice, old, map[string]any{"new_version": ""}, 400, "M_UNSUPPORTED_ROOM_VERSION"},
			{"no version", alice, old, map[string]any{}, 400, "M_MISSING_PARAM"},
			{"version not a string", alice, old, map[string]any{"new_version": 12}, 400, "M_BAD_JSON"},
			{"bad additional creator", alice, old, map[string]any{"new_version": "12", "additional_creators": []string{"bob"}}, 400, "M_INVALID_PARAM"},
			{"not JSON", alice, old, "{", 400, "M_NOT_JSON"},
			{"without power", bob, old, map[string]any{"new_version": "12"}, 403, "M_FORBIDDEN"},
			{"banned", carol, old, map[string]any{"new_version": "12"}, 403, "M_FORBIDDEN"},
			{"not a member", dave, old, map[string]any{"new_version": "12"}, 403, "M_FORBIDDEN"},
			{"unknown room", alice, "!nope:chappe.test", map[string]any{"new_version": "12"}, 403, "M_FORBIDDEN"},
			{"anonymous", anon, old, map[string]any{"new_version": "12"}, 401, "M_MISSING_TOKEN"},
		} {
			wantErr(t, tc.what, tc.c.Do("POST", dirRoomPath(tc.room, "/upgrade"), tc.body), tc.status, tc.errcode)
		}
		a, b := dave.Do("POST", dirRoomPath(old, "/upgrade"), map[string]any{"new_version": "12"}),
			dave.Do("POST", dirRoomPath("!nope:chappe.test", "/upgrade"), map[string]any{"new_version": "12"})
		if string(a.Raw) != string(b.Raw) {
			t.Errorf("not a member = %s, unknown room = %s; want the same answer", a.Raw, b.Raw)
		}
		wantErr(t, "old room still untombstoned", alice.Do("GET", dirRoomPath(old, "/state/m.room.tombstone/"), nil), 404, "M_NOT_FOUND")

		nw := upgrade(t, alice, old, map[string]any{"new_version": "12"})
		if strings.Contains(nw, ":") {
			t.Errorf("v12 replacement room ID %q has a server part", nw)
		}

		// The new room's create event.
		create := getState(t, alice, nw, "m.room.create", "")
		if create.String("room_version") != "12" || create.Body["creator"] != nil {
			t.Errorf("new m.room.create = %s; want room_version 12 without creator", create.Raw)
		}
		if pred, _ := create.Body["predecessor"].(map[string]any); pred["room_id"] != old {
			t.Errorf("predecessor = %v; want room_id %s", create.Body["predecessor"], old)
		}
		// Copied state.
		for _, tc := range []struct{ typ, key, want string }{
			{"m.room.name", "name", "Old"},
			{"m.room.topic", "topic", "Old topic"},
			{"m.room.avatar", "url", "mxc://chappe.test/av"},
			{"m.room.encryption", "algorithm", "m.megolm.v1.aes-sha2"},
			{"m.room.join_rules", "join_rule", "public"},
			{"m.room.history_visibility", "history_visibility", "world_readable"},
			{"m.room.guest_access", "guest_access", "forbidden"},
			{"m.room.canonical_alias", "alias", "#club:chappe.test"},
		} {
			if got := getState(t, alice, nw, tc.typ, "").String(tc.key); got != tc.want {
				t.Errorf("new room %s.%s = %q; want %q", tc.typ, tc.key, got, tc.want)
			}
		}
		if acl := getState(t, alice, nw, "m.room.server_acl", ""); fmt.Sprint(acl.Body["deny"]) != "[bad.example]" {
			t.Errorf("server ACL = %s; want deny [bad.example]", acl.Raw)
		}
		if ca := getState(t, alice, nw, "m.room.canonical_alias", ""); fmt.Sprint(ca.Body["alt_aliases"]) != "[#club2:chappe.test]" {
			t.Errorf("new canonical alias = %s; want alt_aliases [#club2:chappe.test]", ca.Raw)
		}
		if ban := getState(t, alice, nw, "m.room.member", carol.UserID); ban.String("membership") != "ban" || ban.String("reason") != "spam" {
			t.Errorf("carol in the new room = %s; want the ban copied", ban.Raw)
		}
		// Power levels: alice is a v12 creator, so not listed; bob keeps
		// 50; only creators may upgrade again.
		npl := getState(t, alice, nw, "m.room.power_levels", "")
		users := plUsers(npl)
		if _, listed := users[alice.UserID]; listed || users[bob.UserID] != 50.0 {
			t.Errorf("new power levels users = %v; want bob 50 and no alice", users)
		}
		events, _ := npl.Body["events"].(map[string]any)
		if tl, _ := events["m.room.tombstone"].(float64); tl <= npl.Body["state_default"].(float64) {
			t.Errorf("v12 tombstone level %v; want above state_default %v", events["m.room.tombstone"], npl.Body["state_default"])
		}
		// Membership is not copied: alice alone is joined.
		joined := alice.MustDo("GET", dirRoomPath(nw, "/joined_members"), nil, http.StatusOK).Body["joined"].(map[string]any)
		if len(joined) != 1 || joined[alice.UserID] == nil {
			t.Errorf("new room's joined members = %v; want alice alone", joined)
		}

		// The old room: tombstone, restricted power levels, aliases gone.
		tomb := getState(t, bob, old, "m.room.tombstone", "")
		if tomb.String("replacement_room") != nw || tomb.String("body") == "" {
			t.Errorf("tombstone = %s; want replacement_room %s and a body", tomb.Raw, nw)
		}
		opl := getState(t, bob, old, "m.room.power_levels", "")
		if opl.Body["events_default"] != 50.0 || opl.Body["invite"] != 50.0 || plUsers(opl)[bob.UserID] != 50.0 {
			t.Errorf("old power levels = %s; want events_default 50 and invite 50, users kept", opl.Raw)
		}
		wantErr(t, "ordinary member talks in the old room",
			dave.Do("PUT", dirRoomPath(old, "/send/m.room.message/t1"), map[string]any{"msgtype": "m.text", "body": "hi"}), 403, "M_FORBIDDEN")
		if oca := getState(t, bob, old, "m.room.canonical_alias", ""); oca.Body["alias"] != nil || fmt.Sprint(oca.Body["alt_aliases"]) != "[]" {
			t.Errorf("old canonical alias = %s; want no local aliases left", oca.Raw)
		}
		for _, alias := range []string{"#club:chappe.test", "#club2:chappe.test"} {
			if got := anon.MustDo("GET", aliasPath(alias), nil, http.StatusOK).String("room_id"); got != nw {
				t.Errorf("%s points to %s; want the new room %s", alias, got, nw)
			}
		}
		if got := bodyList(t, alice.MustDo("GET", dirRoomPath(nw, "/aliases"), nil, http.StatusOK), "aliases"); len(got) != 2 {
			t.Errorf("new room's aliases = %v; want both", got)
		}
		if got := bodyList(t, bob.MustDo("GET", dirRoomPath(old, "/aliases"), nil, http.StatusOK), "aliases"); len(got) != 0 {
			t.Errorf("old room's aliases = %v; want none", got)
		}
		// The directory lists the new room instead of the old.
		if got := chunkIDs(t, anon.MustDo("GET", v3+"/publicRooms", nil, http.StatusOK)); !slices.Equal(got, []string{nw}) {
			t.Errorf("publicRooms after the upgrade = %v; want [%s]", got, nw)
		}
		if got := alice.MustDo("GET", listPath(old), nil, http.StatusOK).String("visibility"); got != "private" {
			t.Errorf("old room's visibility = %q; want private", got)
		}

		// Members follow; bob keeps his level.
		join(t, bob, nw)
		bob.MustDo("PUT", dirRoomPath(nw, "/send/m.room.message/t1"), map[string]any{"msgtype": "m.text", "body": "moved"}, http.StatusOK)
		wantErr(t, "banned user joins the new room", carol.Do("POST", v3+"/join/"+nw, map[string]any{}), 403, "M_FORBIDDEN")

		// A retried upgrade returns the same room.
		if again := upgrade(t, alice, old, map[string]any{"new_version": "12"}); again != nw {
			t.Errorf("retried upgrade = %s; want the first replacement %s", again, nw)
		}
	})
}

// TestUpgradeRoomV12ToV11 upgrades a v12 room, whose creators are not in
// its power levels, to v11, whose creator must be.
func TestUpgradeRoomV12ToV11(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := dirServer(t, engine)
		alice := srv.Register(t, "alice", password)
		bob := srv.Register(t, "bob", password)
		carol := srv.Register(t, "carol", password)
		old := newRoom(t, alice, map[string]any{"room_version": "12", "preset": "private_chat", "name": "Private",
			"invite": []string{bob.UserID, carol.UserID}})
		join(t, bob, old)
		putState(t, alice, old, "m.room.power_levels", "", func() map[string]any {
			pl := getState(t, alice, old, "m.room.power_levels", "").Body
			pl["users"] = map[string]any{bob.UserID: 100}
			return pl
		}())
		// bob, at 100, is below v12's tombstone level of 150.
		wantErr(t, "admin but not creator", bob.Do("POST", dirRoomPath(old, "/upgrade"), map[string]any{"new_version": "11"}), 403, "M_FORBIDDEN")

		nw := upgrade(t, alice, old, map[string]any{"new_version": "11"})
		if !strings.HasSuffix(nw, ":chappe.test") {
			t.Errorf("v11 room ID %q; want one with this server's name", nw)
		}
		create := getState(t, alice, nw, "m.room.create", "")
		tomb := getState(t, alice, old, "m.room.tombstone", "")
		evID := alice.MustDo("GET", dirRoomPath(old, "/state/m.room.tombstone/?format=event"), nil, http.StatusOK).String("event_id")
		pred, _ := create.Body["predecessor"].(map[string]any)
		if create.String("room_version") != "11" || pred["room_id"] != old || pred["event_id"] != evID || evID == "" {
			t.Errorf("new m.room.create = %s; want version 11, predecessor %s and the tombstone %s", create.Raw, old, evID)
		}
		if tomb.String("replacement_room") != nw {
			t.Errorf("tombstone = %s; want replacement_room %s", tomb.Raw, nw)
		}
		// alice was a creator (infinite power): she gets the highest
		// level the old room named (its tombstone level, 150).
		pl := getState(t, alice, nw, "m.room.power_levels", "")
		users := plUsers(pl)
		if users[alice.UserID] != 150.0 || users[bob.UserID] != 100.0 {
			t.Errorf("v11 power levels users = %v; want alice 150, bob 100", users)
		}
		if got := getState(t, alice, nw, "m.room.join_rules", "").String("join_rule"); got != "invite" {
			t.Errorf("join rule = %q; want invite", got)
		}
		// Invites are not carried over, as in Synapse: carol needs a new one.
		wantErr(t, "invited to the old room joins the new", carol.Do("POST", v3+"/join/"+nw, map[string]any{}), 403, "M_FORBIDDEN")
		// alice can still do everything in the new room, as creator did.
		alice.MustDo("POST", dirRoomPath(nw, "/invite"), map[string]any{"user_id": carol.UserID}, http.StatusOK)
		putState(t, alice, nw, "m.room.name", "", map[string]any{"name": "Renamed"})
	})
}

// TestUpgradeRoomCreatorsAndLevels: additional_creators to v12, and a
// sender whose level is raised while the state is copied, then restored.
func TestUpgradeRoomCreatorsAndLevels(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := dirServer(t, engine)
		alice := srv.Register(t, "alice", password)
		bob := srv.Register(t, "bob", password)

		// v12 → v12 with bob as an additional creator.
		old := newRoom(t, alice, map[string]any{"room_version": "12", "preset": "public_chat"})
		join(t, bob, old)
		nw := upgrade(t, alice, old, map[string]any{"new_version": "12", "additional_creators": []string{bob.UserID, alice.UserID, bob.UserID}})
		create := getState(t, alice, nw, "m.room.create", "")
		if fmt.Sprint(create.Body["additional_creators"]) != "["+bob.UserID+"]" {
			t.Errorf("additional_creators = %v; want [%s] (deduplicated, without the sender)", create.Body["additional_creators"], bob.UserID)
		}
		if _, listed := plUsers(getState(t, alice, nw, "m.room.power_levels", ""))[bob.UserID]; listed {
			t.Error("an additional creator is listed in the new room's power levels")
		}
		join(t, bob, nw)
		putState(t, bob, nw, "m.room.power_levels", "", getState(t, alice, nw, "m.room.power_levels", "").Body) // creator power

		// v10 → v11 by bob at 50, allowed to tombstone but not to name.
		old = newRoom(t, alice, map[string]any{"room_version": "10", "preset": "public_chat", "name": "Named",
			"power_level_content_override": map[string]any{"events": map[string]any{"m.room.tombstone": 50, "m.room.name": 100}}})
		join(t, bob, old)
		pl := getState(t, alice, old, "m.room.power_levels", "").Body
		pl["users"].(map[string]any)[bob.UserID] = 50
		putState(t, alice, old, "m.room.power_levels", "", pl)
		nw = upgrade(t, bob, old, map[string]any{"new_version": "11"})
		if got := getState(t, bob, nw, "m.room.name", "").String("name"); got != "Named" {
			t.Errorf("name copied by a sender raised for the copy = %q; want Named", got)
		}
		users := plUsers(getState(t, bob, nw, "m.room.power_levels", ""))
		if users[bob.UserID] != 50.0 || users[alice.UserID] != 100.0 {
			t.Errorf("final power levels users = %v; want bob back at 50, alice 100", users)
		}
		wantErr(t, "bob renames after the restore", bob.Do("PUT", dirRoomPath(nw, "/state/m.room.name/"), map[string]any{"name": "x"}), 403, "M_FORBIDDEN")
		// The override replaced the events map, so power levels need only
		// state_default (50): bob could restrict the old room.
		if opl := getState(t, bob, old, "m.room.power_levels", ""); opl.Body["events_default"] != 50.0 || opl.Body["invite"] != 50.0 {
			t.Errorf("old room power levels = %s; want events_default and invite 50", opl.Raw)
		}

		// A sender who may tombstone but not send power levels: the
		// old room keeps its levels, and the upgrade still succeeds.
		old = newRoom(t, alice, map[string]any{"room_version": "10", "preset": "public_chat",
			"power_level_content_override": map[string]any{"events": map[string]any{"m.room.tombstone": 50, "m.room.power_levels": 100}}})
		join(t, bob, old)
		pl = getState(t, alice, old, "m.room.power_levels", "").Body
		pl["users"].(map[string]any)[bob.UserID] = 50
		putState(t, alice, old, "m.room.power_levels", "", pl)
		nw = upgrade(t, bob, old, map[string]any{"new_version": "11"})
		if opl := getState(t, bob, old, "m.room.power_levels", ""); opl.Body["events_default"] != 0.0 {
			t.Errorf("old room events_default = %v; want 0: bob may not send power levels", opl.Body["events_default"])
		}
		if got := getState(t, bob, old, "m.room.tombstone", "").String("replacement_room"); got != nw {
			t.Errorf("tombstone points to %q; want %s", got, nw)
		}
	})
}

// TestUpgradeCarriesUserState: joining an upgraded room (or creating it by
// upgrading) carries over the user's own state about the old room, as
// Synapse does: its tags, its place in m.direct, and the enabled push
// rules about it (a muted room stays muted).
func TestUpgradeCarriesUserState(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := dirServer(t, engine)
		alice := srv.Register(t, "alice", password)
		bob := srv.Register(t, "bob", password)
		old := newRoom(t, alice, map[string]any{"preset": "public_chat"})
		join(t, bob, old)
		for _, c := range []*testserver.Client{alice, bob} {
			c.MustDo("PUT", udPath(c, old, "/tags/m.favourite"), map[string]any{"order": 0.25}, http.StatusOK)
			c.MustDo("PUT", udPath(c, "", "/account_data/m.direct"), map[string]any{"@someone:chappe.test": []string{old}}, http.StatusOK)
			c.MustDo("PUT", pushRules+"override/"+old, map[string]any{"actions": []any{},
				"conditions": []any{map[string]any{"kind": "event_match", "key": "room_id", "pattern": old}}}, http.StatusOK)
		}
		bob.MustDo("PUT", pushRules+"room/"+old, map[string]any{"actions": []any{"notify"}}, http.StatusOK)
		bob.MustDo("PUT", pushRules+"override/"+old+"/enabled", map[string]any{"enabled": false}, http.StatusOK)

		carried := func(c *testserver.Client, newRoom string, wantRules []string) {
			t.Helper()
			tags := c.MustDo("GET", udPath(c, newRoom, "/tags"), nil, http.StatusOK).Body["tags"].(map[string]any)
			if fav, _ := tags["m.favourite"].(map[string]any); fav["order"] != 0.25 {
				t.Errorf("%s: tags of the new room = %v; want m.favourite with order 0.25", c.UserID, tags)
			}
			direct := c.MustDo("GET", udPath(c, "", "/account_data/m.direct"), nil, http.StatusOK).Body["@someone:chappe.test"]
			if fmt.Sprint(direct) != fmt.Sprint([]any{old, newRoom}) {
				t.Errorf("%s: m.direct = %v; want the old room then the new one", c.UserID, direct)
			}
			var got []string
			for _, kind := range []string{"override", "room"} {
				r := c.Do("GET", pushRules+kind+"/"+newRoom, nil)
				if r.Status == http.StatusOK {
					got = append(got, kind)
					if kind == "override" && !strings.Contains(string(r.Raw), `"pattern":"`+newRoom+`"`) {
						t.Errorf("%s: the copied override rule does not match the new room: %s", c.UserID, r.Raw)
					}
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(wantRules) {
				t.Errorf("%s: rules for the new room: %v; want %v", c.UserID, got, wantRules)
			}
		}
		newID := upgrade(t, alice, old, map[string]any{"new_version": "11"})
		carried(alice, newID, []string{"override"})
		join(t, bob, newID)
		carried(bob, newID, []string{"room"}) // his override rule is disabled
		// Joining again (a profile change) copies nothing twice.
		join(t, bob, newID)
		if d := bob.MustDo("GET", udPath(bob, "", "/account_data/m.direct"), nil, http.StatusOK).Body["@someone:chappe.test"]; len(d.([]any)) != 2 {
			t.Errorf("m.direct after joining again = %v", d)
		}
	})
}

package clientapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"chappe.eu/chappe/internal/testserver"
)

func roomPath(roomID, suffix string) string {
	return "/_matrix/client/v3/rooms/" + url.PathEscape(roomID) + suffix
}

func stateContent(t *testing.T, c *testserver.Client, roomID, typ, key string) *testserver.Response {
	t.Helper()
	return c.Do("GET", roomPath(roomID, "/state/"+typ+"/"+key), nil)
}

// createRoom ("Creation"): presets, encryption by default for private
// rooms, room versions, initial_state, power level override, invites.
func TestCreateRoom(t *testing.T) {
	for _, engine := range testserver.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			srv := testserver.Start(t, engine, nil)
			alice := srv.Register(t, "alice", "password1")
			bob := srv.Register(t, "bob", "password1")

			priv := alice.MustDo("POST", "/_matrix/client/v3/createRoom", map[string]any{
				"preset": "private_chat", "name": "Secret", "topic": "t", "invite": []string{bob.UserID}, "is_direct": true,
			}, 200).String("room_id")
			if r := stateContent(t, alice, priv, "m.room.encryption", ""); r.Status != 200 || r.String("algorithm") != "m.megolm.v1.aes-sha2" {
				t.Errorf("private room encryption = %d %s; want m.megolm.v1.aes-sha2", r.Status, r.Raw)
			}
			if r := stateContent(t, alice, priv, "m.room.join_rules", ""); r.String("join_rule") != "invite" {
				t.Errorf("private_chat join_rule = %s; want invite", r.Raw)
			}
			if r := stateContent(t, alice, priv, "m.room.member", bob.UserID); r.String("membership") != "invite" || r.Body["is_direct"] != true {
				t.Errorf("bob's member event = %s; want an is_direct invite", r.Raw)
			}
			if r := stateContent(t, alice, priv, "m.room.create", ""); r.String("room_version") != "12" {
				t.Errorf("default room version = %s; want 12", r.Raw)
			}

			pub := alice.MustDo("POST", "/_matrix/client/v3/createRoom", map[string]any{"preset": "public_chat", "room_version": "10"}, 200).String("room_id")
			if r := stateContent(t, alice, pub, "m.room.encryption", ""); r.Status != 404 {
				t.Errorf("public room encryption = %d %s; want none", r.Status, r.Raw)
			}
			if r := stateContent(t, alice, pub, "m.room.create", ""); r.String("room_version") != "10" || r.String("creator") != alice.UserID {
				t.Errorf("v10 create = %s; want room_version 10 and creator", r.Raw)
			}
			if r := stateContent(t, alice, pub, "m.room.power_levels", ""); !strings.Contains(string(r.Raw), `"`+alice.UserID+`":100`) {
				t.Errorf("v10 power levels do not give the creator 100: %s", r.Raw)
			}

			over := alice.MustDo("POST", "/_matrix/client/v3/createRoom", map[string]any{
				"preset": "public_chat", "power_level_content_override": map[string]any{"events_default": 42},
				"initial_state": []map[string]any{{"type": "m.room.topic", "state_key": "", "content": map[string]any{"topic": "initial"}}},
			}, 200).String("room_id")
			if r := stateContent(t, alice, over, "m.room.power_levels", ""); r.Body["events_default"] != float64(42) {
				t.Errorf("override not applied: %s", r.Raw)
			}
			if r := stateContent(t, alice, over, "m.room.topic", ""); r.String("topic") != "initial" {
				t.Errorf("initial_state topic = %s", r.Raw)
			}

			bad := []struct {
				body    map[string]any
				status  int
				errcode string
			}{
				{map[string]any{"room_version": "99"}, 400, "M_UNSUPPORTED_ROOM_VERSION"},
				{map[string]any{"preset": "nonsense"}, 400, "M_INVALID_PARAM"},
				{map[string]any{"invite": []string{"not a user"}}, 400, "M_INVALID_PARAM"},
				{map[string]any{"name": 5}, 400, "M_BAD_JSON"},
				{map[string]any{"initial_state": []map[string]any{{"type": "m.room.member", "state_key": bob.UserID, "content": map[string]any{"membership": "join"}}}}, 400, "M_INVALID_PARAM"},
			}
			for _, b := range bad {
				r := alice.Do("POST", "/_matrix/client/v3/createRoom", b.body)
				if r.Status != b.status || r.Errcode() != b.errcode {
					t.Errorf("createRoom %v = %d %s; want %d %s", b.body, r.Status, r.Raw, b.status, b.errcode)
				}
			}
			// room_alias_name: taken aliases are refused.
			alice.MustDo("POST", "/_matrix/client/v3/createRoom", map[string]any{"room_alias_name": "lobby", "preset": "public_chat"}, 200)
			if r := bob.Do("POST", "/_matrix/client/v3/createRoom", map[string]any{"room_alias_name": "lobby"}); r.Errcode() != "M_ROOM_IN_USE" {
				t.Errorf("second room with alias lobby = %d %s; want M_ROOM_IN_USE", r.Status, r.Raw)
			}
			r := bob.MustDo("POST", "/_matrix/client/v3/join/"+url.PathEscape("#lobby:chappe.test"), map[string]any{}, 200)
			if r.String("room_id") == "" {
				t.Error("join by alias returned no room_id")
			}
		})
	}
}

// Membership ("Room membership"): every transition the rules allow works
// and every one they forbid is 403 and stored nowhere.
func TestMembershipTransitions(t *testing.T) {
	for _, engine := range testserver.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			srv := testserver.Start(t, engine, nil)
			alice := srv.Register(t, "alice", "password1")
			bob := srv.Register(t, "bob", "password1")
			carol := srv.Register(t, "carol", "password1")
			roomID := alice.MustDo("POST", "/_matrix/client/v3/createRoom", map[string]any{"preset": "private_chat"}, 200).String("room_id")

			forbid := func(c *testserver.Client, path string, body any) {
				t.Helper()
				if r := c.Do("POST", roomPath(roomID, path), body); r.Status != http.StatusForbidden || r.Errcode() != "M_FORBIDDEN" {
					t.Errorf("%s %s = %d %s; want 403 M_FORBIDDEN", c.UserID, path, r.Status, r.Raw)
				}
			}
			forbid(bob, "/join", map[string]any{}) // invite-only
			alice.MustDo("POST", roomPath(roomID, "/invite"), map[string]any{"user_id": bob.UserID}, 200)
			forbid(bob, "/invite", map[string]any{"user_id": carol.UserID}) // not joined
			bob.MustDo("POST", roomPath(roomID, "/join"), map[string]any{}, 200)
			forbid(bob, "/invite", map[string]any{"user_id": carol.UserID}) // invite needs 50
			forbid(bob, "/kick", map[string]any{"user_id": alice.UserID})
			forbid(bob, "/ban", map[string]any{"user_id": alice.UserID})

			r := bob.MustDo("GET", "/_matrix/client/v3/joined_rooms", nil, 200)
			if !strings.Contains(string(r.Raw), roomID) {
				t.Errorf("joined_rooms = %s; want %s", r.Raw, roomID)
			}
			alice.MustDo("POST", roomPath(roomID, "/ban"), map[string]any{"user_id": bob.UserID, "reason": "spam"}, 200)
			if r := stateContent(t, alice, roomID, "m.room.member", bob.UserID); r.String("membership") != "ban" || r.String("reason") != "spam" {
				t.Errorf("bob after ban = %s", r.Raw)
			}
			forbid(bob, "/join", map[string]any{})
			alice.MustDo("POST", roomPath(roomID, "/unban"), map[string]any{"user_id": bob.UserID}, 200)
			if r := stateContent(t, alice, roomID, "m.room.member", bob.UserID); r.String("membership") != "leave" {
				t.Errorf("bob after unban = %s; want leave", r.Raw)
			}
			// Forget needs a leave first.
			carolRoom := alice.MustDo("POST", "/_matrix/client/v3/createRoom", map[string]any{"preset": "public_chat"}, 200).String("room_id")
			carol.MustDo("POST", roomPath(carolRoom, "/join"), map[string]any{}, 200)
			if r := carol.Do("POST", roomPath(carolRoom, "/forget"), map[string]any{}); r.Status != 400 {
				t.Errorf("forget while joined = %d %s; want 400", r.Status, r.Raw)
			}
			carol.MustDo("POST", roomPath(carolRoom, "/leave"), map[string]any{}, 200)
			carol.MustDo("POST", roomPath(carolRoom, "/forget"), map[string]any{}, 200)
			s := carol.MustDo("GET", "/_matrix/client/v3/sync?filter="+url.QueryEscape(`{"room":{"include_leave":true}}`), nil, 200)
			if strings.Contains(string(s.Raw), carolRoom) {
				t.Errorf("a forgotten room is still in /sync: %s", s.Raw)
			}
		})
	}
}

// Knocking (room version 7+): knock, then the admin invites... or the
// knock is accepted by an invite.
func TestKnock(t *testing.T) {
	for _, engine := range testserver.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			srv := testserver.Start(t, engine, nil)
			alice := srv.Register(t, "alice", "password1")
			bob := srv.Register(t, "bob", "password1")
			roomID := alice.MustDo("POST", "/_matrix/client/v3/createRoom", map[string]any{
				"preset":        "private_chat",
				"initial_state": []map[string]any{{"type": "m.room.join_rules", "content": map[string]any{"join_rule": "knock"}}},
			}, 200).String("room_id")
			bob.MustDo("POST", "/_matrix/client/v3/knock/"+url.PathEscape(roomID), map[string]any{"reason": "let me in"}, 200)
			s := bob.MustDo("GET", "/_matrix/client/v3/sync", nil, 200)
			if !strings.Contains(string(s.Raw), `"knock"`) || !strings.Contains(string(s.Raw), roomID) {
				t.Errorf("knocked room not in /sync's knock section: %s", s.Raw)
			}
			alice.MustDo("POST", roomPath(roomID, "/invite"), map[string]any{"user_id": bob.UserID}, 200)
			bob.MustDo("POST", roomPath(roomID, "/join"), map[string]any{}, 200)

			old := alice.MustDo("POST", "/_matrix/client/v3/createRoom", map[string]any{"room_version": "6",
				"initial_state": []map[string]any{{"type": "m.room.join_rules", "content": map[string]any{"join_rule": "knock"}}}}, 200).String("room_id")
			if r := bob.Do("POST", "/_matrix/client/v3/knock/"+url.PathEscape(old), map[string]any{}); r.Status != 403 {
				t.Errorf("knock on a v6 room = %d %s; want 403", r.Status, r.Raw)
			}
		})
	}
}

// Sending: idempotent transaction IDs, sizes, state keys, redaction.
func TestSendEvents(t *testing.T) {
	for _, engine := range testserver.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			srv := testserver.Start(t, engine, nil)
			alice := srv.Register(t, "alice", "password1")
			bob := srv.Register(t, "bob", "password1")
			roomID := alice.MustDo("POST", "/_matrix/client/v3/createRoom", map[string]any{"preset": "public_chat"}, 200).String("room_id")
			bob.MustDo("POST", roomPath(roomID, "/join"), map[string]any{}, 200)

			first := alice.MustDo("PUT", roomPath(roomID, "/send/m.room.message/same"), map[string]any{"body": "once"}, 200).String("event_id")
			again := alice.MustDo("PUT", roomPath(roomID, "/send/m.room.message/same"), map[string]any{"body": "once"}, 200).String("event_id")
			if first != again {
				t.Errorf("retried transaction gave %s then %s; want the same event", first, again)
			}
			other := bob.MustDo("PUT", roomPath(roomID, "/send/m.room.message/same"), map[string]any{"body": "bob"}, 200).String("event_id")
			if other == first {
				t.Error("another user's transaction with the same ID returned alice's event")
			}
			m := alice.MustDo("GET", roomPath(roomID, "/messages?dir=b&limit=20"), nil, 200)
			if n := strings.Count(string(m.Raw), `"once"`); n != 1 {
				t.Errorf("the retried message is stored %d times; want 1", n)
			}
			if !strings.Contains(string(m.Raw), `"transaction_id":"same"`) {
				t.Errorf("the sender's device does not see its transaction_id: %s", m.Raw)
			}
			if strings.Contains(string(bob.MustDo("GET", roomPath(roomID, "/event/"+url.PathEscape(first)), nil, 200).Raw), "transaction_id") {
				t.Error("another user sees alice's transaction_id")
			}

			big := strings.Repeat("x", 70000)
			if r := alice.Do("PUT", roomPath(roomID, "/send/m.room.message/big"), map[string]any{"body": big}); r.Status != 413 || r.Errcode() != "M_TOO_LARGE" {
				t.Errorf("70 kB event = %d %s; want 413 M_TOO_LARGE", r.Status, r.Raw)
			}
			if r := bob.Do("PUT", roomPath(roomID, "/state/m.custom/"+url.PathEscape(alice.UserID)), map[string]any{}); r.Status != 403 {
				t.Errorf("state key of another user = %d %s; want 403", r.Status, r.Raw)
			}
			if r := bob.Do("PUT", roomPath(roomID, "/state/m.room.name/"), map[string]any{"name": "x"}); r.Status != 403 {
				t.Errorf("name without power = %d %s; want 403", r.Status, r.Raw)
			}
			if r := alice.Do("PUT", roomPath(roomID, "/send/m.room.message/arr"), "[1,2]"); r.Errcode() != "M_BAD_JSON" {
				t.Errorf("array content = %d %s; want M_BAD_JSON", r.Status, r.Raw)
			}

			alice.MustDo("PUT", roomPath(roomID, "/redact/"+url.PathEscape(other)+"/r1"), map[string]any{"reason": "mod"}, 200)
			ev := bob.MustDo("GET", roomPath(roomID, "/event/"+url.PathEscape(other)), nil, 200)
			if strings.Contains(string(ev.Raw), `"bob"`) || !strings.Contains(string(ev.Raw), "redacted_because") {
				t.Errorf("redacted event still shows its content or lacks redacted_because: %s", ev.Raw)
			}
			if r := bob.Do("PUT", roomPath(roomID, "/redact/"+url.PathEscape(first)+"/r2"), map[string]any{}); r.Status != 403 {
				t.Errorf("bob redacting alice's event = %d %s; want 403", r.Status, r.Raw)
			}
		})
	}
}

// Reading: /state, /members with filters, /joined_members.
func TestRoomReads(t *testing.T) {
	for _, engine := range testserver.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			srv := testserver.Start(t, engine, nil)
			alice := srv.Register(t, "alice", "password1")
			bob := srv.Register(t, "bob", "password1")
			carol := srv.Register(t, "carol", "password1")
			roomID := alice.MustDo("POST", "/_matrix/client/v3/createRoom", map[string]any{"preset": "public_chat", "invite": []string{carol.UserID}}, 200).String("room_id")
			bob.MustDo("POST", roomPath(roomID, "/join"), map[string]any{}, 200)
			st := bob.MustDo("GET", roomPath(roomID, "/state"), nil, 200)
			if len(st.List) < 6 {
				t.Errorf("GET /state has %d events; want the whole state", len(st.List))
			}
			members := bob.MustDo("GET", roomPath(roomID, "/members?membership=invite"), nil, 200)
			chunk := members.Body["chunk"].([]any)
			if len(chunk) != 1 || chunk[0].(map[string]any)["state_key"] != carol.UserID {
				t.Errorf("members?membership=invite = %s; want carol only", members.Raw)
			}
			members = bob.MustDo("GET", roomPath(roomID, "/members?not_membership=invite"), nil, 200)
			if n := len(members.Body["chunk"].([]any)); n != 2 {
				t.Errorf("members?not_membership=invite has %d; want 2", n)
			}
			j := bob.MustDo("GET", roomPath(roomID, "/joined_members"), nil, 200)
			joined := j.Body["joined"].(map[string]any)
			if len(joined) != 2 || joined[alice.UserID] == nil || joined[bob.UserID] == nil {
				t.Errorf("joined_members = %s; want alice and bob", j.Raw)
			}
			for _, q := range []string{"/messages?dir=x", "/messages?dir=b&limit=-1", "/messages?dir=b&limit=abc", "/messages?dir=b&from=nonsense", "/members?at=zzz"} {
				if r := bob.Do("GET", roomPath(roomID, q), nil); r.Status != 400 {
					t.Errorf("GET %s = %d %s; want 400", q, r.Status, r.Raw)
				}
			}
		})
	}
}

// createRoom's initial_state may name in m.room.canonical_alias only the
// alias that room_alias_name creates (M_BAD_ALIAS otherwise), as PUT
// /state would.
func TestCreateRoomInitialCanonicalAlias(t *testing.T) {
	srv := testserver.Start(t, "sqlite", nil)
	alice := srv.Register(t, "alice", "password1")
	alice.MustDo("POST", "/_matrix/client/v3/createRoom", map[string]any{"room_alias_name": "taken"}, 200)
	state := func(alias string) []map[string]any {
		return []map[string]any{{"type": "m.room.canonical_alias", "state_key": "", "content": map[string]any{"alias": alias}}}
	}
	r := alice.Do("POST", "/_matrix/client/v3/createRoom", map[string]any{"initial_state": state("#taken:chappe.test")})
	if r.Status != 400 || r.Errcode() != "M_BAD_ALIAS" {
		t.Errorf("initial canonical alias of another room = %d %s; want 400 M_BAD_ALIAS", r.Status, r.Raw)
	}
	r = alice.Do("POST", "/_matrix/client/v3/createRoom", map[string]any{"initial_state": state("not an alias")})
	if r.Status != 400 || r.Errcode() != "M_INVALID_PARAM" {
		t.Errorf("initial canonical alias that is no alias = %d %s; want 400 M_INVALID_PARAM", r.Status, r.Raw)
	}
	alice.MustDo("POST", "/_matrix/client/v3/createRoom", map[string]any{"room_alias_name": "mine", "initial_state": state("#mine:chappe.test")}, 200)
}

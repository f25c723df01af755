package event

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"chappe.eu/chappe/internal/room/canonicaljson"
)

// pdu returns a valid m.room.message PDU of room version v as JSON, with the
// given keys changed (a nil value deletes the key).
func pdu(t testing.TB, v *RoomVersion, change map[string]any) []byte {
	t.Helper()
	e := map[string]any{
		"type":             "m.room.message",
		"sender":           "@alice:a.example",
		"room_id":          "!room:a.example",
		"content":          map[string]any{"body": "hi", "msgtype": "m.text"},
		"depth":            5,
		"origin_server_ts": 1700000000000,
		"prev_events":      refList(v, "$prev"),
		"auth_events":      refList(v, "$create", "$member"),
		"hashes":           map[string]string{"sha256": "aGFzaA"},
		"signatures":       map[string]any{},
	}
	if v.HashRoomIDs {
		e["room_id"] = "!Nhcu5BS-UMnFX7hBVfVSoXiD7OgH6iRT-xyIuqDnpYQ"
	}
	if v.EventIDFormat == EventIDServerGenerated {
		e["event_id"] = "$ev1:a.example"
	}
	for k, val := range change {
		if val == nil {
			delete(e, k)
		} else {
			e[k] = val
		}
	}
	raw, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func refList(v *RoomVersion, names ...string) any {
	if v.EventIDFormat != EventIDServerGenerated {
		ids := []string{}
		for _, n := range names {
			ids = append(ids, n+"AAAA")
		}
		return ids
	}
	pairs := []any{}
	for _, n := range names {
		pairs = append(pairs, []any{n + ":a.example", map[string]string{"sha256": "aGFzaA"}})
	}
	return pairs
}

func allVersions(t testing.TB) []*RoomVersion {
	var vs []*RoomVersion
	for _, id := range Versions() {
		vs = append(vs, mustVersion(t, id))
	}
	return vs
}

func TestParseAccessors(t *testing.T) {
	for _, v := range allVersions(t) {
		raw := pdu(t, v, map[string]any{"state_key": "", "type": "m.room.topic",
			"content": map[string]any{"topic": "x"}, "unsigned": map[string]any{"age": 7}, "origin": "a.example"})
		ev, err := Parse(raw, v)
		if err != nil {
			t.Fatalf("v%s: Parse: %v", v.ID, err)
		}
		wantPrev, wantAuth := "$prevAAAA", "$createAAAA $memberAAAA"
		if v.EventIDFormat == EventIDServerGenerated {
			wantPrev, wantAuth = "$prev:a.example", "$create:a.example $member:a.example"
		}
		tuple, ok := ev.StateTuple()
		for _, c := range []struct{ name, got, want string }{
			{"Type", ev.Type(), "m.room.topic"},
			{"Sender", ev.Sender(), "@alice:a.example"},
			{"Content", string(ev.Content()), `{"topic":"x"}`},
			{"Depth", fmt.Sprint(ev.Depth()), "5"},
			{"OriginServerTS", fmt.Sprint(ev.OriginServerTS()), "1700000000000"},
			{"PrevEventIDs", strings.Join(ev.PrevEventIDs(), " "), wantPrev},
			{"AuthEventIDs", strings.Join(ev.AuthEventIDs(), " "), wantAuth},
			{"StateTuple", fmt.Sprint(tuple, ok), "{m.room.topic } true"},
			{"Unsigned", string(ev.Unsigned()), `{"age":7}`},
			{"Origin", ev.Origin(), "a.example"},
			{"ContentHashBase64", ev.ContentHashBase64(), "aGFzaA"},
		} {
			if c.got != c.want {
				t.Errorf("v%s: %s() = %q; want %q", v.ID, c.name, c.got, c.want)
			}
		}
		if strings.Contains(string(ev.JSON()), "unsigned") || !canonicaljson.IsCanonical(ev.JSON()) {
			t.Errorf("v%s: JSON() = %s; want canonical, without unsigned", v.ID, ev.JSON())
		}
		if pdu, _ := canonicaljson.Get(ev.PDU(), "unsigned"); string(pdu) != `{"age":7}` {
			t.Errorf("v%s: PDU() = %s; want unsigned back", v.ID, ev.PDU())
		}
	}
}

func TestParseEventIDFormats(t *testing.T) {
	for _, v := range allVersions(t) {
		ev, err := Parse(pdu(t, v, nil), v)
		if err != nil {
			t.Fatalf("v%s: Parse: %v", v.ID, err)
		}
		id := ev.EventID()
		ref := ev.ReferenceHash()
		switch v.EventIDFormat {
		case EventIDServerGenerated:
			if id != "$ev1:a.example" {
				t.Errorf("v%s: EventID() = %s; want the event_id key", v.ID, id)
			}
		case EventIDHashStdBase64:
			if want := "$" + b64std(ref[:]); id != want {
				t.Errorf("v%s: EventID() = %s; want %s", v.ID, id, want)
			}
		case EventIDHashURLBase64:
			if want := "$" + b64url(ref[:]); id != want {
				t.Errorf("v%s: EventID() = %s; want %s", v.ID, id, want)
			}
		}
		// Neither signatures nor unsigned change a hash-based event ID.
		other, err := Parse(pdu(t, v, map[string]any{"unsigned": map[string]any{"x": 1},
			"signatures": map[string]any{"b.example": map[string]string{"ed25519:x": "c2ln"}}}), v)
		if err != nil || other.EventID() != id {
			t.Errorf("v%s: EventID() with other signatures and unsigned = %s, %v; want %s", v.ID, other.EventID(), err, id)
		}
		// But the content hash does (through hashes).
		if v.EventIDFormat != EventIDServerGenerated {
			other, _ := Parse(pdu(t, v, map[string]any{"hashes": map[string]string{"sha256": "b3RoZXI"}}), v)
			if other.EventID() == id {
				t.Errorf("v%s: EventID() does not depend on hashes", v.ID)
			}
		}
	}
}

func TestParseV12Create(t *testing.T) {
	v := mustVersion(t, "12")
	raw := pdu(t, v, map[string]any{"type": "m.room.create", "state_key": "", "room_id": nil,
		"content": map[string]any{"room_version": "12"}, "prev_events": []string{}, "auth_events": []string{}})
	ev, err := Parse(raw, v)
	if err != nil {
		t.Fatal(err)
	}
	if ev.RoomID() != "" || ev.CreatedRoomID() != "!"+ev.EventID()[1:] || len(ev.CreatedRoomID()) != 44 {
		t.Errorf("RoomID() = %q, CreatedRoomID() = %q; want \"\" and ! + the event ID's hash", ev.RoomID(), ev.CreatedRoomID())
	}
	// A v12 create event with a room_id parses: the authorization rules
	// reject it (rule 1.2), which must see it.
	if _, err := Parse(pdu(t, v, map[string]any{"type": "m.room.create", "state_key": ""}), v); err != nil {
		t.Errorf("Parse(v12 create with room_id) = %v; want success", err)
	}
	// Other v12 events need their room_id.
	if _, err := Parse(pdu(t, v, map[string]any{"room_id": nil}), v); err == nil {
		t.Errorf("Parse(v12 message without room_id) succeeded")
	}
	// Before v12 the create event's room is its room_id.
	v11 := mustVersion(t, "11")
	ev, _ = Parse(pdu(t, v11, map[string]any{"type": "m.room.create", "state_key": ""}), v11)
	if ev.CreatedRoomID() != "!room:a.example" {
		t.Errorf("v11 CreatedRoomID() = %q", ev.CreatedRoomID())
	}
}

func TestParseRedacts(t *testing.T) {
	for _, v := range allVersions(t) {
		raw := pdu(t, v, map[string]any{"type": "m.room.redaction", "redacts": "$top",
			"content": map[string]any{"redacts": "$inner", "reason": "spam"}})
		ev, err := Parse(raw, v)
		if err != nil {
			t.Fatalf("v%s: %v", v.ID, err)
		}
		want := "$top"
		if v.RedactsInContent {
			want = "$inner"
		}
		if ev.Redacts() != want {
			t.Errorf("v%s: Redacts() = %q; want %q", v.ID, ev.Redacts(), want)
		}
	}
}

// badEvents are changes that make a PDU invalid, in the versions given.
var badEvents = []struct {
	name     string
	versions string // "" for all, else e.g. "1-2", "6-"
	change   map[string]any
	raw      string // instead of change
}{
	{"not JSON", "", nil, `{"type":`},
	{"not an object", "", nil, `[1]`},
	{"duplicate key", "", nil, `{"type":"a","type":"b"}`},
	{"invalid UTF-8", "", nil, "{\"type\":\"\xff\"}"},
	{"missing type", "", map[string]any{"type": nil}, ""},
	{"missing sender", "", map[string]any{"sender": nil}, ""},
	{"missing content", "", map[string]any{"content": nil}, ""},
	{"missing depth", "", map[string]any{"depth": nil}, ""},
	{"missing origin_server_ts", "", map[string]any{"origin_server_ts": nil}, ""},
	{"missing prev_events", "", map[string]any{"prev_events": nil}, ""},
	{"missing auth_events", "", map[string]any{"auth_events": nil}, ""},
	{"missing room_id", "", map[string]any{"room_id": nil}, ""},
	{"missing event_id", "1-2", map[string]any{"event_id": nil}, ""},
	{"event_id without server", "1-2", map[string]any{"event_id": "$abc"}, ""},
	{"type not a string", "", map[string]any{"type": 1}, ""},
	{"type too long", "", map[string]any{"type": strings.Repeat("t", 256)}, ""},
	{"state_key not a string", "", map[string]any{"state_key": 1}, ""},
	{"state_key null", "", map[string]any{"state_key": json.RawMessage("null")}, ""},
	{"state_key too long", "", map[string]any{"state_key": strings.Repeat("s", 256)}, ""},
	{"sender not a user ID", "", map[string]any{"sender": "alice"}, ""},
	{"sender too long", "", map[string]any{"sender": "@" + strings.Repeat("a", 250) + ":a.example"}, ""},
	{"room_id not a room ID", "", map[string]any{"room_id": "room"}, ""},
	{"content not an object", "", map[string]any{"content": "x"}, ""},
	{"depth negative", "", map[string]any{"depth": -1}, ""},
	{"depth a string", "", map[string]any{"depth": "5"}, ""},
	{"depth above 2**63-1", "", map[string]any{"depth": json.RawMessage("9223372036854775808")}, ""},
	{"depth above 2**53-1", "6-", map[string]any{"depth": json.RawMessage("9007199254740992")}, ""},
	{"depth a float", "", map[string]any{"depth": json.RawMessage("5.0")}, ""},
	{"origin_server_ts a float", "", map[string]any{"origin_server_ts": json.RawMessage("1.5")}, ""},
	{"float in content", "6-", map[string]any{"content": json.RawMessage(`{"x":1.5}`)}, ""},
	{"big integer in content", "6-", map[string]any{"content": json.RawMessage(`{"x":9007199254740992}`)}, ""},
	{"prev_events not a list", "", map[string]any{"prev_events": "$x"}, ""},
	{"prev_events null", "", map[string]any{"prev_events": json.RawMessage("null")}, ""},
	{"prev_events of numbers", "", map[string]any{"prev_events": []int{1}}, ""},
	{"prev_events without $", "3-", map[string]any{"prev_events": []string{"abc"}}, ""},
	{"prev_events as pairs", "3-", map[string]any{"prev_events": []any{[]any{"$a:b", map[string]any{}}}}, ""},
	{"prev_events as IDs", "1-2", map[string]any{"prev_events": []string{"$a:b"}}, ""},
	{"prev_events pair too long", "1-2", map[string]any{"prev_events": []any{[]any{"$a:b", map[string]any{}, 1}}}, ""},
	{"prev_events pair without hashes", "1-2", map[string]any{"prev_events": []any{[]any{"$a:b", "x"}}}, ""},
	{"auth_events ID too long", "", map[string]any{"auth_events": []string{"$" + strings.Repeat("a", 255)}}, ""},
	{"hashes not an object", "", map[string]any{"hashes": "x"}, ""},
	{"hashes.sha256 not a string", "", map[string]any{"hashes": map[string]int{"sha256": 1}}, ""},
	{"signatures not an object", "", map[string]any{"signatures": []int{}}, ""},
	{"signatures of a server not an object", "", map[string]any{"signatures": map[string]any{"a": "x"}}, ""},
	{"signature not a string", "", map[string]any{"signatures": map[string]any{"a": map[string]int{"ed25519:1": 1}}}, ""},
	{"redacts not a string", "1-10", map[string]any{"type": "m.room.redaction", "redacts": 1}, ""},
	{"too deep", "", map[string]any{"content": json.RawMessage(`{"a":` + strings.Repeat("[", 600) + strings.Repeat("]", 600) + `}`)}, ""},
}

func inVersions(spec, id string) bool {
	if spec == "" {
		return true
	}
	var lo, hi int
	var n int
	fmt.Sscan(id, &n)
	from, to, ranged := strings.Cut(spec, "-")
	fmt.Sscan(from, &lo)
	hi = lo
	if ranged {
		hi = 1 << 30
		if to != "" {
			fmt.Sscan(to, &hi)
		}
	}
	return lo <= n && n <= hi
}

func TestParseRefuses(t *testing.T) {
	for _, v := range allVersions(t) {
		for _, tt := range badEvents {
			if !inVersions(tt.versions, v.ID) {
				continue
			}
			raw := []byte(tt.raw)
			if tt.raw == "" {
				raw = pdu(t, v, tt.change)
			}
			ev, err := Parse(raw, v)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Errorf("v%s %s: Parse = %v, %v; want a *ParseError", v.ID, tt.name, ev, err)
			}
		}
	}
}

// Before room version 6 numbers are kept as written.
func TestParseLaxNumbers(t *testing.T) {
	for _, id := range []string{"1", "5"} {
		v := mustVersion(t, id)
		raw := pdu(t, v, map[string]any{"content": json.RawMessage(`{"f":1.50,"big":12345678901234567890,"e":1E3}`)})
		ev, err := Parse(raw, v)
		if err != nil {
			t.Fatalf("v%s: Parse: %v", id, err)
		}
		if got := string(ev.Content()); got != `{"big":12345678901234567890,"e":1E3,"f":1.50}` {
			t.Errorf("v%s: Content() = %s; want numbers as written", id, got)
		}
	}
}

func TestParseIgnoresBadUnsigned(t *testing.T) {
	v := mustVersion(t, "10")
	a, err := Parse(pdu(t, v, map[string]any{"unsigned": 5}), v)
	if err != nil {
		t.Fatalf("Parse(unsigned: 5) = %v; want success", err)
	}
	b, _ := Parse(pdu(t, v, nil), v)
	if a.Unsigned() != nil || a.EventID() != b.EventID() || string(a.JSON()) != string(b.JSON()) {
		t.Errorf("Parse(unsigned: 5) = %s, %s; want it ignored", a.Unsigned(), a.JSON())
	}
}

func TestParseStrictIgnoresUnsigned(t *testing.T) {
	v := mustVersion(t, "12")
	ev, err := Parse(pdu(t, v, map[string]any{"unsigned": json.RawMessage(`{"f":1.5,"big":9007199254740992}`)}), v)
	if err != nil || string(ev.Unsigned()) != `{"big":9007199254740992,"f":1.5}` {
		t.Errorf("Parse(float in unsigned) = %v, %v; want success", ev, err)
	}
	_, err = Parse(pdu(t, v, map[string]any{"unsigned": json.RawMessage(`{"f":1.5}`),
		"content": json.RawMessage(`{"f":2.5}`)}), v)
	if !errors.Is(err, canonicaljson.ErrFloat) {
		t.Errorf("Parse(float in unsigned and content) = %v; want ErrFloat", err)
	}
}

func TestParseSizeLimit(t *testing.T) {
	v := mustVersion(t, "12")
	base, _ := Parse(pdu(t, v, map[string]any{"content": map[string]string{"body": ""}}), v)
	room := MaxPDUSize - len(base.JSON())
	for _, tt := range []struct {
		pad int
		ok  bool
	}{{room, true}, {room + 1, false}} {
		raw := pdu(t, v, map[string]any{"content": map[string]string{"body": strings.Repeat("x", tt.pad)},
			"unsigned": map[string]string{"big": strings.Repeat("u", 1000)}})
		ev, err := Parse(raw, v)
		if tt.ok && (err != nil || len(ev.JSON()) != MaxPDUSize) {
			t.Errorf("Parse(%d bytes) = %v; want success", MaxPDUSize, err)
		}
		if !tt.ok && !errors.Is(err, ErrTooLarge) {
			t.Errorf("Parse(%d bytes) = %v; want ErrTooLarge", MaxPDUSize+1, err)
		}
	}
	// Whitespace in the input does not count: the limit is on canonical JSON.
	raw := pdu(t, v, map[string]any{"content": map[string]string{"body": strings.Repeat("x", room)}})
	padded := strings.Replace(string(raw), "{", "{"+strings.Repeat(" ", 1000), 1)
	if _, err := Parse([]byte(padded), v); err != nil {
		t.Errorf("Parse(limit-sized event with whitespace) = %v; want success", err)
	}
}

func TestWithUnsigned(t *testing.T) {
	v := mustVersion(t, "12")
	ev, _ := Parse(pdu(t, v, nil), v)
	u, err := ev.WithUnsigned(json.RawMessage(`{"age": 5, "transaction_id": "t"}`))
	if err != nil || string(u.Unsigned()) != `{"age":5,"transaction_id":"t"}` || ev.Unsigned() != nil {
		t.Errorf("WithUnsigned = %s, %v; original %s", u.Unsigned(), err, ev.Unsigned())
	}
	if _, err := ev.WithUnsigned(json.RawMessage(`[]`)); err == nil {
		t.Errorf("WithUnsigned([]) succeeded")
	}
}

package rooms

import (
	"encoding/json"
	"fmt"
	"testing"

	"chappe.eu/chappe/internal/room/event"
	"chappe.eu/chappe/internal/room/event/eventtest"
)

func version(t *testing.T, id string) *event.RoomVersion {
	t.Helper()
	v, ok := event.Version(id)
	if !ok {
		t.Fatalf("no room version %s", id)
	}
	return v
}

// createEvent returns an m.room.create event of version v sent by alice.
func createEvent(t *testing.T, v *event.RoomVersion, content string) *event.Event {
	t.Helper()
	return eventtest.Parse(t, `{"type":"m.room.create","state_key":"","sender":"@alice:chappe.test","content":`+content+`}`, v)
}

func plEvent(t *testing.T, v *event.RoomVersion, content string) *event.Event {
	t.Helper()
	return eventtest.Parse(t, `{"type":"m.room.power_levels","state_key":"","sender":"@alice:chappe.test","content":`+content+`}`, v)
}

var upgradedPowerLevelsTests = []struct {
	name           string
	oldVersion     string
	create, pl     string // contents; pl "" means the room has none
	newVersion     string
	sender         string
	newCreators    []string
	users          string // final users
	firstSender    int64  // the sender's level in the first power levels, 0 if unlisted
	events         string // final events
	ban, stateDflt int64
}{
	{
		name: "v10 to v12: the creator leaves users, others keep their levels", oldVersion: "10",
		create:     `{"creator":"@alice:chappe.test","room_version":"10"}`,
		pl:         `{"users":{"@alice:chappe.test":100,"@bob:chappe.test":50},"events":{"m.room.tombstone":100}}`,
		newVersion: "12", sender: "@alice:chappe.test", newCreators: []string{"@alice:chappe.test"},
		users: `map[@bob:chappe.test:50]`, events: `map[m.room.tombstone:100]`, ban: 50, stateDflt: 50,
	},
	{
		name: "to v12 without a tombstone level: above state_default", oldVersion: "11",
		create: `{"room_version":"11"}`, pl: `{"users":{"@alice:chappe.test":100},"state_default":60}`,
		newVersion: "12", sender: "@alice:chappe.test", newCreators: []string{"@alice:chappe.test"},
		users: `map[]`, events: `map[m.room.tombstone:150]`, ban: 50, stateDflt: 60,
	},
	{
		name: "v12 to v11: the creator gets the highest level named", oldVersion: "12",
		create: `{"room_version":"12"}`, pl: `{"users":{"@bob:chappe.test":100},"events":{"m.room.tombstone":150}}`,
		newVersion: "11", sender: "@alice:chappe.test",
		users: `map[@alice:chappe.test:150 @bob:chappe.test:100]`, firstSender: 150, events: `map[m.room.tombstone:150]`, ban: 50, stateDflt: 50,
	},
	{
		name: "v12 to v12: an old additional creator not kept as creator gets the top level", oldVersion: "12",
		create: `{"room_version":"12","additional_creators":["@bob:chappe.test"]}`, pl: `{"users":{"@carol:chappe.test":20}}`,
		newVersion: "12", sender: "@alice:chappe.test", newCreators: []string{"@alice:chappe.test", "@carol:chappe.test"},
		users: `map[@bob:chappe.test:100]`, events: `map[m.room.tombstone:150]`, ban: 50, stateDflt: 50,
	},
	{
		name: "v1 string levels become integers", oldVersion: "1",
		create: `{"creator":"@alice:chappe.test"}`, pl: `{"users":{"@alice:chappe.test":" 100"},"ban":"40","state_default":"+50"}`,
		newVersion: "10", sender: "@alice:chappe.test",
		users: `map[@alice:chappe.test:100]`, firstSender: 100, events: `map[]`, ban: 40, stateDflt: 50,
	},
	{
		name: "v5 floats are truncated, huge levels bounded", oldVersion: "5",
		create: `{"creator":"@alice:chappe.test"}`, pl: `{"users":{"@alice:chappe.test":100.9,"@bob:chappe.test":1e16}}`,
		newVersion: "10", sender: "@alice:chappe.test",
		users: `map[@alice:chappe.test:100 @bob:chappe.test:9007199254740991]`, firstSender: 100, events: `map[]`, ban: 50, stateDflt: 50,
	},
	{
		name: "a room without power levels: its creator had 100", oldVersion: "10",
		create:     `{"creator":"@alice:chappe.test","room_version":"10"}`,
		newVersion: "11", sender: "@alice:chappe.test",
		users: `map[@alice:chappe.test:100]`, firstSender: 100, events: `map[]`, ban: 50, stateDflt: 50,
	},
	{
		name: "a sender too low to copy the state is raised, then restored", oldVersion: "10",
		create:     `{"creator":"@alice:chappe.test","room_version":"10"}`,
		pl:         `{"users":{"@alice:chappe.test":100,"@bob:chappe.test":50},"events":{"m.room.name":100,"m.room.tombstone":50}}`,
		newVersion: "11", sender: "@bob:chappe.test",
		users: `map[@alice:chappe.test:100 @bob:chappe.test:50]`, firstSender: 100, events: `map[m.room.name:100 m.room.tombstone:50]`, ban: 50, stateDflt: 50,
	},
}

func TestUpgradedPowerLevels(t *testing.T) {
	for _, tc := range upgradedPowerLevelsTests {
		ov, nv := version(t, tc.oldVersion), version(t, tc.newVersion)
		create := createEvent(t, ov, tc.create)
		var pl *event.Event
		if tc.pl != "" {
			pl = plEvent(t, ov, tc.pl)
		}
		first, final := upgradedPowerLevels(create, pl, nv, tc.sender, tc.newCreators)
		got := fmt.Sprintf("users %v events %v ban %v state_default %v", final["users"], final["events"], final["ban"], final["state_default"])
		want := fmt.Sprintf("users %s events %s ban %d state_default %d", tc.users, tc.events, tc.ban, tc.stateDflt)
		if got != want {
			t.Errorf("%s: upgradedPowerLevels = %s;\nwant %s", tc.name, got, want)
		}
		if l := first["users"].(map[string]int64)[tc.sender]; l != tc.firstSender {
			t.Errorf("%s: sender's first level = %d; want %d", tc.name, l, tc.firstSender)
		}
		// The final content must be valid power levels for the new version.
		if _, err := event.Build(event.Proto{Type: "m.room.power_levels", StateKey: ptr(""), Sender: "@alice:chappe.test",
			RoomID: "!r:chappe.test", Content: mustJSON(final), Depth: 1}, nv, "chappe.test", "ed25519:a", make([]byte, 64)); err != nil {
			t.Errorf("%s: final power levels do not build in v%s: %v", tc.name, nv.ID, err)
		}
	}
}

var restrictedPowerLevelsTests = []struct {
	name, pl string // "" for no power levels
	want     string // "" when nothing changes
}{
	{"defaults", `{"users":{"@alice:chappe.test":100}}`, `{"events_default":50,"invite":50,"users":{"@alice:chappe.test":100}}`},
	{"users_default of 60", `{"users_default":60,"events_default":0,"invite":70}`, `{"events_default":61,"invite":70,"users_default":60}`},
	{"already restricted", `{"events_default":100,"invite":50}`, ""},
	{"no power levels", "", ""},
	{"other keys kept as they are", `{"events_default":10,"invite":50,"x":[1,2]}`, `{"events_default":50,"invite":50,"x":[1,2]}`},
}

func TestRestrictedPowerLevels(t *testing.T) {
	v := version(t, "10")
	create := createEvent(t, v, `{"creator":"@alice:chappe.test","room_version":"10"}`)
	for _, tc := range restrictedPowerLevelsTests {
		var pl *event.Event
		if tc.pl != "" {
			pl = plEvent(t, v, tc.pl)
		}
		got, ok := restrictedPowerLevels(create, pl)
		if (tc.want == "") != !ok || (ok && string(got) != tc.want) {
			t.Errorf("%s: restrictedPowerLevels(%s) = %s, %v; want %q", tc.name, tc.pl, got, ok, tc.want)
		}
	}
}

var splitCanonicalAliasTests = []struct {
	content          string
	wantOld, wantNew string
	wantOK           bool
}{
	{`{"alias":"#a:chappe.test","alt_aliases":["#b:chappe.test","#c:other.example"]}`,
		`{"alt_aliases":["#c:other.example"]}`, `{"alias":"#a:chappe.test","alt_aliases":["#b:chappe.test"]}`, true},
	{`{"alias":"#a:other.example","alt_aliases":["#b:chappe.test"]}`,
		`{"alias":"#a:other.example","alt_aliases":[]}`, `{"alt_aliases":["#b:chappe.test"]}`, true},
	{`{"alias":"#a:other.example"}`, "", "", false},
	{`{"alias":5,"alt_aliases":"#a:chappe.test"}`, "", "", false},
	{`{}`, "", "", false},
}

func TestSplitCanonicalAlias(t *testing.T) {
	s := &Service{server: "chappe.test"}
	for _, tc := range splitCanonicalAliasTests {
		old, nw, ok := s.splitCanonicalAlias(json.RawMessage(tc.content))
		if ok != tc.wantOK || string(old) != tc.wantOld || string(nw) != tc.wantNew {
			t.Errorf("splitCanonicalAlias(%s) = %s, %s, %v; want %s, %s, %v", tc.content, old, nw, ok, tc.wantOld, tc.wantNew, tc.wantOK)
		}
	}
	if _, _, ok := s.splitCanonicalAlias(nil); ok {
		t.Error("splitCanonicalAlias(nil) moved something")
	}
}

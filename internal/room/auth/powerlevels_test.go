package auth

import (
	"encoding/json"
	"testing"
)

var parseLevelTests = []struct {
	raw      string
	versions string // where raw is a power level
	want     int64
}{
	{`50`, "1-12", 50},
	{`-5`, "1-12", -5},
	{`0`, "1-12", 0},
	{`9007199254740991`, "1-12", 9007199254740991},
	{`-9007199254740991`, "1-12", -9007199254740991},
	{`9007199254740992`, "1-5", 9007199254740992}, // beyond canonical JSON, allowed before v6
	{`9223372036854775808`, "", 0},                // beyond int64 (NOTSPEC)
	{`"50"`, "1-9", 50},
	{`"000100"`, "1-9", 100},
	{`"+100"`, "1-9", 100},
	{`"-100"`, "1-9", -100},
	{`" 100 "`, "1-9", 100},
	{`" \t+0100\n"`, "1-9", 100},
	{`"50.5"`, "", 0},
	{`"1e2"`, "", 0},
	{`"++1"`, "", 0},
	{`"1 0"`, "", 0},
	{`""`, "", 0},
	{`" "`, "", 0},
	{`"-"`, "", 0},
	{`"0x10"`, "", 0},
	{`"1_000"`, "", 0},
	{`50.57`, "1-5", 50},
	{`-50.57`, "1-5", -50},
	{`5.114698E4`, "1-5", 51146},
	{`1e2`, "1-5", 100},
	{`1e400`, "", 0},
	{`1e30`, "", 0}, // a double, but not an int64 (NOTSPEC)
	{`true`, "", 0},
	{`null`, "", 0},
	{`{}`, "", 0},
	{`[50]`, "", 0},
}

func TestParseLevel(t *testing.T) {
	for _, tt := range parseLevelTests {
		for vn := 1; vn <= 12; vn++ {
			v := version(t, itoa(vn))
			got, ok := parseLevel(json.RawMessage(tt.raw), v)
			wantOK := tt.versions != "" && inVersions(tt.versions, vn)
			if ok != wantOK || ok && got != tt.want {
				t.Errorf("v%d parseLevel(%s) = %d, %v; want %d, %v", vn, tt.raw, got, ok, tt.want, wantOK)
			}
		}
	}
}

func TestParsePowerLevels(t *testing.T) {
	v1, v11, v12 := version(t, "1"), version(t, "11"), version(t, "12")
	create1 := parse(t, v1, `{"type":"m.room.create","state_key":"","sender":"@s:a.example","content":{"creator":"@alice:a.example"}}`)
	create11 := parse(t, v11, `{"type":"m.room.create","state_key":"","sender":"@alice:a.example","content":{"creator":"@bob:b.example"}}`)
	create12 := parse(t, v12, `{"type":"m.room.create","state_key":"","sender":"@alice:a.example","content":{"additional_creators":["@bob:b.example"]}}`)
	content := `{"users":{"@carol:c.example":70,"@alice:a.example":5},"users_default":3,"ban":"60","events":{"m.room.name":40},"notifications":{"room":20}}`
	pl1, err1 := ParsePowerLevels(create1, parse(t, v1, `{"type":"m.room.power_levels","state_key":"","sender":"@alice:a.example","content":`+content+`}`))
	pl12, err12 := ParsePowerLevels(create12, parse(t, v12, `{"type":"m.room.power_levels","state_key":"","sender":"@alice:a.example","content":`+content+`}`))
	none1, _ := ParsePowerLevels(create1, nil)
	none11, _ := ParsePowerLevels(create11, nil)
	none12, _ := ParsePowerLevels(create12, nil)
	if err1 != nil {
		t.Errorf("v1 ParsePowerLevels = %v; want nil (stringy ban)", err1)
	}
	if err12 == nil {
		t.Error("v12 ParsePowerLevels = nil error; want one (string ban)")
	}
	tests := []struct {
		name      string
		got, want int64
	}{
		{"v1 UserLevel(listed)", pl1.UserLevel("@carol:c.example"), 70},
		{"v1 UserLevel(creator, listed)", pl1.UserLevel("@alice:a.example"), 5},
		{"v1 UserLevel(unlisted)", pl1.UserLevel("@dave:d.example"), 3},
		{"v1 Ban (string)", pl1.Ban, 60},
		{"v1 Kick (default)", pl1.Kick, 50},
		{"v1 Redact (default)", pl1.Redact, 50},
		{"v1 Invite (default)", pl1.Invite, 0},
		{"v1 EventLevel(listed)", pl1.EventLevel("m.room.name", true), 40},
		{"v1 EventLevel(state)", pl1.EventLevel("m.room.topic", true), 50},
		{"v1 EventLevel(message)", pl1.EventLevel("m.room.message", false), 0},
		{"v12 UserLevel(creator, listed)", pl12.UserLevel("@alice:a.example"), Infinite},
		{"v12 UserLevel(additional creator)", pl12.UserLevel("@bob:b.example"), Infinite},
		{"v12 UserLevel(listed)", pl12.UserLevel("@carol:c.example"), 70},
		{"v12 Ban (string, so default)", pl12.Ban, 50},
		{"no power levels: v1 creator (content.creator)", none1.UserLevel("@alice:a.example"), 100},
		{"no power levels: v1 sender of create", none1.UserLevel("@s:a.example"), 0},
		{"no power levels: v11 creator (sender)", none11.UserLevel("@alice:a.example"), 100},
		{"no power levels: v11 content.creator", none11.UserLevel("@bob:b.example"), 0},
		{"no power levels: v12 additional creator", none12.UserLevel("@bob:b.example"), Infinite},
		{"no power levels: v12 other", none12.UserLevel("@carol:c.example"), 0},
		{"no power levels: state default", none12.EventLevel("m.room.topic", true), 50},
		{"no power levels: events default", none12.EventLevel("m.room.message", false), 0},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %d; want %d", tt.name, tt.got, tt.want)
		}
	}
	if l, ok := pl1.NotificationLevel("room"); l != 20 || !ok {
		t.Errorf("NotificationLevel(room) = %d, %v; want 20, true", l, ok)
	}
	if l, ok := none1.NotificationLevel("room"); l != 50 || !ok {
		t.Errorf("no power levels: NotificationLevel(room) = %d, %v; want 50, true", l, ok)
	}
	if _, ok := none1.NotificationLevel("other"); ok {
		t.Error("NotificationLevel(other) has a default; want none")
	}
	if !pl12.IsCreator("@bob:b.example") || pl12.IsCreator("@carol:c.example") {
		t.Error("v12 IsCreator wrong")
	}
	// Keys with escapes in canonical JSON, and keys the rules do not know.
	odd, err := ParsePowerLevels(create11, parse(t, v11, `{"type":"m.room.power_levels","state_key":"","sender":"@alice:a.example","content":{"users":{"@a\\\"b:a.example":7},"historical":5,"ban":1}}`))
	if err != nil || odd.UserLevel(`@a\"b:a.example`) != 7 || odd.Ban != 1 {
		t.Errorf("power levels with an escaped user ID = %+v, %v; want the user at 7, ban 1", odd, err)
	}
	if _, err := ParsePowerLevels(nil, nil); err == nil {
		t.Error("ParsePowerLevels(nil, nil) = nil error; want one")
	}
	if _, err := ParsePowerLevels(create1, create1); err == nil {
		t.Error("ParsePowerLevels(create, create) = nil error; want one")
	}
}

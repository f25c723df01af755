package auth

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"chappe.eu/chappe/internal/room/event"
)

// The golden rooms in testdata/*.jsonl are replayed through Check for every
// room version they apply to. Each non-blank line that does not start with
// '#' is one JSON object:
//
//	{"versions": "8-12",            // optional: the versions the line applies to
//	 "expect": "allow" | "reject 5.3.3" | {"1-7": "reject M.2.3", "8-12": "allow"},
//	 "why": "what the line shows",
//	 "raw": true,                   // optional: do not fill in room_id
//	 "event": {...}}                // the event, without room_id, depth, auth_events…
//
// A file may start with {"versions": "…"} alone to restrict the whole file.
// In a rule number, a capital letter stands for the top-level rule whose
// number depends on the version (see topRules); the sub-rule numbers are
// written out as each version's page has them.
//
// The harness fills in what depends on the room version: the room ID (v12:
// the create event's ID with "!"), event IDs (v1–v2: the line's event_id with
// the sender's server; v3+: computed), prev_events (default: the previous
// line's event) and redacts in those formats, content.redacts from v11, and
// auth_events chosen by AuthEventsNeeded from the state so far. State is built
// from the accepted events only.
//
// Every line also checks that the auth events the harness selected pass
// CheckAuthEvents and that Check against them alone agrees with Check against
// the whole state.

// topRules is the number of each top-level rule in each room version, read
// off the version pages: v1–v5 have the m.room.aliases rule 4, v1–v2 the
// redaction rule 11, v12 the room_id rule 2.
var topRules = map[byte]func(v int) int{
	'R': func(v int) int { return 2 },                  // v12 only: room_id is the create event's
	'A': func(v int) int { return pick(v, 2, 2, 3) },   // auth_events
	'F': func(v int) int { return pick(v, 3, 3, 4) },   // m.federate
	'L': func(v int) int { return 4 },                  // v1–v5 only: m.room.aliases
	'M': func(v int) int { return pick(v, 5, 4, 5) },   // m.room.member
	'J': func(v int) int { return pick(v, 6, 5, 6) },   // sender must be joined
	'T': func(v int) int { return pick(v, 7, 6, 7) },   // m.room.third_party_invite
	'P': func(v int) int { return pick(v, 8, 7, 8) },   // required power level
	'S': func(v int) int { return pick(v, 9, 8, 9) },   // state_key starting with @
	'W': func(v int) int { return pick(v, 10, 9, 10) }, // m.room.power_levels
	'X': func(v int) int { return 11 },                 // v1–v2 only: m.room.redaction
}

// pick returns a for v1–v5, b for v6–v11 and c for v12.
func pick(v, a, b, c int) int {
	switch {
	case v <= 5:
		return a
	case v <= 11:
		return b
	}
	return c
}

func TestGoldenRooms(t *testing.T) {
	files, err := filepath.Glob("testdata/*.jsonl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden rooms: %v", err)
	}
	for _, file := range files {
		lines := readGolden(t, file)
		versions := "1-12"
		if len(lines) > 0 && lines[0].Event == nil {
			versions = lines[0].Versions
			lines = lines[1:]
		}
		for _, id := range event.Versions() {
			vn, _ := strconv.Atoi(id)
			if !inVersions(versions, vn) {
				continue
			}
			t.Run(fmt.Sprintf("%s/v%s", strings.TrimSuffix(filepath.Base(file), ".jsonl"), id), func(t *testing.T) {
				replay(t, id, lines)
			})
		}
	}
}

type goldenLine struct {
	n        int             // line number in the file
	Versions string          `json:"versions"`
	Expect   json.RawMessage `json:"expect"`
	Why      string          `json:"why"`
	Raw      bool            `json:"raw"`
	Event    map[string]any  `json:"event"`
}

func readGolden(t *testing.T, file string) []goldenLine {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var lines []goldenLine
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' {
			continue
		}
		l := goldenLine{n: n}
		dec := json.NewDecoder(strings.NewReader(text))
		dec.UseNumber() // keep 50.57 and 1e2 as written
		if err := dec.Decode(&l); err != nil {
			t.Fatalf("%s:%d: %v", file, n, err)
		}
		lines = append(lines, l)
	}
	return lines
}

// inVersions reports whether v is in a list like "1-5,7,10-".
func inVersions(spec string, v int) bool {
	if spec == "" || spec == "*" {
		return true
	}
	for _, part := range strings.Split(spec, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, _ := strconv.Atoi(lo)
		b := a
		if isRange {
			b = 99
			if hi != "" {
				b, _ = strconv.Atoi(hi)
			}
		}
		if v >= a && v <= b {
			return true
		}
	}
	return false
}

// expected returns "allow" or "reject <rule>" for version v.
func (l goldenLine) expected(t *testing.T, v int) string {
	var s string
	if json.Unmarshal(l.Expect, &s) != nil {
		var m map[string]string
		if err := json.Unmarshal(l.Expect, &m); err != nil {
			t.Fatalf("line %d: bad expect: %s", l.n, l.Expect)
		}
		for spec, want := range m {
			if inVersions(spec, v) {
				s = want
			}
		}
		if s == "" {
			t.Fatalf("line %d: no expectation for v%d", l.n, v)
		}
	}
	rule, ok := strings.CutPrefix(s, "reject ")
	if !ok {
		return s
	}
	if c := rule[0]; c >= 'A' && c <= 'Z' {
		rule = strconv.Itoa(topRules[c](v)) + rule[1:]
	}
	return "reject " + rule
}

func outcome(err error) string {
	if err == nil {
		return "allow"
	}
	if e, ok := err.(*Error); ok {
		return "reject " + e.Rule
	}
	return "error " + err.Error()
}

// room is a golden room being replayed in one room version.
type room struct {
	v      *event.RoomVersion
	vn     int
	state  StateMap
	ids    map[string]string // name in the file -> event ID
	byID   map[string]*event.Event
	roomID string
	last   string // name of the previous line's event
}

func replay(t *testing.T, versionID string, lines []goldenLine) {
	v, _ := event.Version(versionID)
	vn, _ := strconv.Atoi(versionID)
	r := &room{v: v, vn: vn, state: StateMap{}, ids: map[string]string{}, byID: map[string]*event.Event{},
		roomID: "!room:a.example"}
	for i, l := range lines {
		if !inVersions(l.Versions, vn) {
			continue
		}
		ev, name := r.build(t, l, i)
		want := l.expected(t, vn)
		err := Check(ev, r.state)
		if got := outcome(err); got != want {
			t.Errorf("line %d (%s): Check = %v; want %s", l.n, l.Why, err, want)
		}
		r.crossCheck(t, l, ev, err)
		r.ids[name] = ev.EventID()
		r.byID[ev.EventID()] = ev
		r.last = name
		if err == nil {
			if ev.Type() == "m.room.create" {
				r.roomID = ev.RoomID()
				if v.PrivilegedCreators {
					r.roomID = "!" + ev.EventID()[1:]
				}
			}
			if tup, ok := ev.StateTuple(); ok {
				r.state[tup] = ev
			}
		}
	}
}

// crossCheck selects auth events as a server would and checks that they
// pass CheckAuthEvents and give the same answer as the whole state.
func (r *room) crossCheck(t *testing.T, l goldenLine, ev *event.Event, full error) {
	if ev.Type() == "m.room.create" || ev.Type() == "m.room.member" && ev.StateKey() == nil {
		return
	}
	var auth []*event.Event
	for _, id := range ev.AuthEventIDs() {
		auth = append(auth, r.byID[id])
	}
	state, err := CheckAuthEvents(ev, auth, nil)
	if err != nil {
		if !l.Raw {
			t.Errorf("line %d (%s): CheckAuthEvents = %v", l.n, l.Why, err)
		}
		return
	}
	if r.v.PrivilegedCreators && r.state[createTuple] != nil {
		state[createTuple] = r.state[createTuple]
	}
	if got, want := fmt.Sprint(Check(ev, state)), fmt.Sprint(full); got != want {
		t.Errorf("line %d (%s): Check(auth events) = %s; Check(state) = %s", l.n, l.Why, got, want)
	}
}

// build turns a line's event into an event of the room version.
func (r *room) build(t *testing.T, l goldenLine, i int) (*event.Event, string) {
	t.Helper()
	e := make(map[string]any, len(l.Event)+6)
	for k, v := range l.Event {
		e[k] = v
	}
	if e["content"] == nil {
		e["content"] = map[string]any{}
	}
	name, _ := e["event_id"].(string)
	if name == "" {
		name = fmt.Sprintf("$line%d", l.n)
	}
	delete(e, "event_id")
	sender, _ := e["sender"].(string)
	typ, _ := e["type"].(string)
	if r.v.EventIDFormat == event.EventIDServerGenerated {
		e["event_id"] = name
		if !strings.Contains(name, ":") {
			e["event_id"] = name + ":" + domain(sender)
		}
	}
	if !l.Raw {
		switch {
		case typ == "m.room.create" && r.v.PrivilegedCreators:
			delete(e, "room_id")
		case typ == "m.room.create" && e["room_id"] == nil:
			e["room_id"] = "!room:" + domain(sender)
		case e["room_id"] == nil:
			e["room_id"] = r.roomID
		}
	}
	e["depth"] = i + 1
	e["origin_server_ts"] = 1_700_000_000_000 + i
	prev := []string{}
	authIDs := []string{}
	if raw, ok := e["prev_events"].([]any); ok {
		for _, p := range raw {
			prev = append(prev, r.ref(t, p.(string)))
		}
	} else if typ != "m.room.create" && r.last != "" {
		prev = append(prev, r.ids[r.last])
	}
	e["prev_events"] = r.refs(prev)
	if typ != "m.room.create" {
		var sk *string
		if s, ok := e["state_key"].(string); ok {
			sk = &s
		}
		content, _ := json.Marshal(e["content"])
		need, _ := AuthEventsNeeded(r.v, typ, sender, sk, content)
		for _, tup := range need {
			if a := r.state[tup]; a != nil {
				authIDs = append(authIDs, a.EventID())
			}
		}
	}
	e["auth_events"] = r.refs(authIDs)
	if red, ok := e["redacts"].(string); ok {
		e["redacts"] = r.ref(t, red)
		if r.v.RedactsInContent {
			if c, ok := e["content"].(map[string]any); ok {
				c["redacts"] = e["redacts"]
			}
		}
	}
	raw, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := event.Parse(raw, r.v)
	if err != nil {
		t.Fatalf("line %d: event.Parse: %v\n%s", l.n, err, raw)
	}
	return ev, name
}

// ref resolves an event name of the file to the event's ID; unknown names
// are used as written (so a line can cite an event that does not exist).
func (r *room) ref(t *testing.T, name string) string {
	if id, ok := r.ids[name]; ok {
		return id
	}
	return name
}

// refs formats event references as the room version wants them.
func (r *room) refs(ids []string) any {
	if r.v.EventIDFormat != event.EventIDServerGenerated {
		return ids
	}
	pairs := make([]any, len(ids))
	for i, id := range ids {
		pairs[i] = []any{id, map[string]string{"sha256": "aGFzaA"}}
	}
	return pairs
}

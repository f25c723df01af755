package stateres

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"chappe.eu/chappe/internal/room/event"
)

// A golden room is a JSON-lines file in testdata/: a header line, the room's
// events oldest first, one line per fork tip with that fork's state, and the
// expected resolution.
//
//	{"description": "...", "room_versions": ["2", "11"]}
//	{"id": "CREATE", "type": "m.room.create", "sender": "@alice:example.com", "state_key": "", "content": {...}, "auth_events": [], "prev_events": []}
//	...
//	{"fork": ["CREATE", "IMA", ...]}
//	{"fork": [...]}
//	{"resolved": ["CREATE", ...]}
//
// Events name each other by "id", an alias: the harness turns each line into
// a PDU of the room version under test, with the event ID that version gives
// it (an ID minted from the alias in versions 1 and 2, the hash from version
// 3), so one file serves several versions and stays valid whatever the
// event package's hashing does. Omitted fields get defaults: prev_events is
// the previous line, depth one more than the deepest prev event,
// origin_server_ts the line number. In versions whose room ID is the create
// event's (12) the create event is dropped from auth_events and room_id is
// filled in from it.
type goldenRoom struct {
	name        string
	description string
	versions    []string
	lines       []goldenEvent
	forks       [][]string
	resolved    []string
}

type goldenEvent struct {
	alias  string
	fields map[string]json.RawMessage
}

func loadGoldenRooms(t testing.TB) []*goldenRoom {
	t.Helper()
	paths, err := filepath.Glob("testdata/*.jsonl")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no golden rooms in testdata: %v", err)
	}
	var rooms []*goldenRoom
	for _, p := range paths {
		rooms = append(rooms, loadGoldenRoom(t, p))
	}
	return rooms
}

func loadGoldenRoom(t testing.TB, path string) *goldenRoom {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	room := &goldenRoom{name: strings.TrimSuffix(filepath.Base(path), ".jsonl")}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(line, &fields); err != nil {
			t.Fatalf("%s:%d: %v", path, n, err)
		}
		switch {
		case fields["room_versions"] != nil:
			_ = json.Unmarshal(fields["description"], &room.description)
			if err := json.Unmarshal(fields["room_versions"], &room.versions); err != nil {
				t.Fatalf("%s:%d: room_versions: %v", path, n, err)
			}
		case fields["fork"] != nil:
			var fork []string
			if err := json.Unmarshal(fields["fork"], &fork); err != nil {
				t.Fatalf("%s:%d: fork: %v", path, n, err)
			}
			room.forks = append(room.forks, fork)
		case fields["resolved"] != nil:
			if err := json.Unmarshal(fields["resolved"], &room.resolved); err != nil {
				t.Fatalf("%s:%d: resolved: %v", path, n, err)
			}
		default:
			var alias string
			if err := json.Unmarshal(fields["id"], &alias); err != nil || alias == "" {
				t.Fatalf("%s:%d: an event line needs an id", path, n)
			}
			delete(fields, "id")
			if fields["origin_server_ts"] == nil {
				fields["origin_server_ts"] = json.RawMessage(fmt.Sprint(n))
			}
			room.lines = append(room.lines, goldenEvent{alias: alias, fields: fields})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(room.versions) == 0 || len(room.forks) < 2 || room.resolved == nil {
		t.Fatalf("%s: needs a header with room_versions, two forks or more and a resolved line", path)
	}
	return room
}

// builtRoom is a golden room's events as PDUs of one room version.
type builtRoom struct {
	v      *event.RoomVersion
	byID   map[string]*event.Event
	id     map[string]string // alias → event ID
	alias  map[string]string // event ID → alias
	forks  []StateMap
	expect StateMap
}

func (room *goldenRoom) build(t testing.TB, versionID string) *builtRoom {
	t.Helper()
	v, ok := event.Version(versionID)
	if !ok {
		t.Fatalf("%s: unknown room version %q", room.name, versionID)
	}
	b := &builtRoom{v: v, byID: map[string]*event.Event{}, id: map[string]string{}, alias: map[string]string{}}
	depth := map[string]int64{}
	roomID := "!room:example.com"
	createAlias := ""
	prev := ""
	for _, line := range room.lines {
		pdu := make(map[string]any, len(line.fields)+4)
		for k, raw := range line.fields {
			pdu[k] = raw
		}
		var typ string
		_ = json.Unmarshal(line.fields["type"], &typ)
		refs := func(key string, dflt []string) []string {
			var aliases []string
			if raw, ok := line.fields[key]; ok {
				if err := json.Unmarshal(raw, &aliases); err != nil {
					t.Fatalf("%s: %s: %s: %v", room.name, line.alias, key, err)
				}
			} else {
				aliases = dflt
			}
			return aliases
		}
		var dflt []string
		if prev != "" {
			dflt = []string{prev}
		}
		prevAliases := refs("prev_events", dflt)
		authAliases := refs("auth_events", nil)
		if v.PrivilegedCreators {
			kept := authAliases[:0:0]
			for _, a := range authAliases {
				if a != createAlias {
					kept = append(kept, a)
				}
			}
			authAliases = kept
		}
		d := int64(0)
		for _, a := range prevAliases {
			d = max(d, depth[a])
		}
		if _, ok := line.fields["depth"]; !ok {
			pdu["depth"] = d + 1
		}
		pdu["prev_events"] = b.refs(t, room.name, prevAliases)
		pdu["auth_events"] = b.refs(t, room.name, authAliases)
		if !(typ == "m.room.create" && v.PrivilegedCreators) {
			pdu["room_id"] = roomID
		}
		if v.EventIDFormat == event.EventIDServerGenerated {
			pdu["event_id"] = "$" + line.alias + ":example.com"
		}
		pdu["hashes"] = map[string]string{"sha256": "placeholder"}
		pdu["signatures"] = map[string]any{}
		raw, err := json.Marshal(pdu)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := event.Parse(raw, v)
		if err != nil {
			t.Fatalf("%s: %s: %v", room.name, line.alias, err)
		}
		if typ == "m.room.create" {
			createAlias = line.alias
			if v.PrivilegedCreators {
				roomID = "!" + ev.EventID()[1:]
			}
		}
		if _, dup := b.id[line.alias]; dup {
			t.Fatalf("%s: alias %s used twice", room.name, line.alias)
		}
		b.id[line.alias] = ev.EventID()
		b.alias[ev.EventID()] = line.alias
		b.byID[ev.EventID()] = ev
		depth[line.alias] = ev.Depth()
		prev = line.alias
	}
	for _, fork := range room.forks {
		b.forks = append(b.forks, b.state(t, room.name, fork))
	}
	b.expect = b.state(t, room.name, room.resolved)
	return b
}

// refs turns aliases into the reference format of the room version.
func (b *builtRoom) refs(t testing.TB, room string, aliases []string) any {
	ids := make([]string, len(aliases))
	for i, a := range aliases {
		id, ok := b.id[a]
		if !ok {
			t.Fatalf("%s: %s is used before its line", room, a)
		}
		ids[i] = id
	}
	if b.v.EventIDFormat != event.EventIDServerGenerated {
		return ids
	}
	pairs := make([][2]any, len(ids))
	for i, id := range ids {
		pairs[i] = [2]any{id, map[string]string{"sha256": "placeholder"}}
	}
	return pairs
}

func (b *builtRoom) state(t testing.TB, room string, aliases []string) StateMap {
	s := StateMap{}
	for _, a := range aliases {
		ev := b.byID[b.id[a]]
		if ev == nil {
			t.Fatalf("%s: state names unknown event %s", room, a)
		}
		k, ok := ev.StateTuple()
		if !ok {
			t.Fatalf("%s: state names %s, which is not a state event", room, a)
		}
		if old, dup := s[k]; dup {
			t.Fatalf("%s: state holds both %s and %s at %v", room, b.alias[old], a, k)
		}
		s[k] = ev.EventID()
	}
	return s
}

// describe renders a state with aliases, sorted, for failure messages.
func (b *builtRoom) describe(s StateMap) string {
	var parts []string
	for k, id := range s {
		name := b.alias[id]
		if name == "" {
			name = id
		}
		parts = append(parts, fmt.Sprintf("(%s,%q)=%s", k.Type, k.StateKey, name))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// diff lists the keys at which got and want differ.
func (b *builtRoom) diff(got, want StateMap) string {
	var parts []string
	keys := map[event.StateKeyTuple]bool{}
	for k := range got {
		keys[k] = true
	}
	for k := range want {
		keys[k] = true
	}
	for k := range keys {
		if got[k] != want[k] {
			parts = append(parts, fmt.Sprintf("(%s,%q): got %s, want %s", k.Type, k.StateKey, b.name(got[k]), b.name(want[k])))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, "\n\t")
}

func (b *builtRoom) name(id string) string {
	if id == "" {
		return "nothing"
	}
	if a := b.alias[id]; a != "" {
		return a
	}
	return id
}

// mapLoader serves events from a map and counts what it is asked.
type mapLoader struct {
	events map[string]*event.Event

	mu        sync.Mutex
	calls     int // mu guards calls and requested
	requested int
}

func (l *mapLoader) Events(ctx context.Context, ids []string) (map[string]*event.Event, error) {
	l.mu.Lock()
	l.calls++
	l.requested += len(ids)
	l.mu.Unlock()
	out := make(map[string]*event.Event, len(ids))
	for _, id := range ids {
		if ev, ok := l.events[id]; ok {
			out[id] = ev
		}
	}
	return out, nil
}

func TestGoldenRooms(t *testing.T) {
	for _, room := range loadGoldenRooms(t) {
		for _, vid := range room.versions {
			t.Run(room.name+"/v"+vid, func(t *testing.T) {
				b := room.build(t, vid)
				got, err := Resolve(context.Background(), b.v, b.forks, &mapLoader{events: b.byID})
				if err != nil {
					t.Fatalf("Resolve: %v", err)
				}
				if d := b.diff(got, b.expect); d != "" {
					t.Errorf("%s\nResolve = %s\n\t%s", room.description, b.describe(got), d)
				}
			})
		}
	}
}

// TestGoldenRoomsDeterministic resolves every golden room with its forks in
// every order: the result must not change.
func TestGoldenRoomsDeterministic(t *testing.T) {
	for _, room := range loadGoldenRooms(t) {
		for _, vid := range room.versions {
			t.Run(room.name+"/v"+vid, func(t *testing.T) {
				b := room.build(t, vid)
				var first StateMap
				permute(b.forks, func(forks []StateMap) {
					for range 3 { // Go's map order differs from run to run
						got, err := Resolve(context.Background(), b.v, forks, &mapLoader{events: b.byID})
						if err != nil {
							t.Fatalf("Resolve: %v", err)
						}
						if first == nil {
							first = got
						} else if d := b.diff(got, first); d != "" {
							t.Fatalf("resolution depends on the order of the forks:\n\t%s", d)
						}
					}
				})
			})
		}
	}
}

// permute calls f with every ordering of s (Heap's algorithm).
func permute(s []StateMap, f func([]StateMap)) {
	s = append([]StateMap(nil), s...)
	var gen func(int)
	gen = func(k int) {
		if k <= 1 {
			f(s)
			return
		}
		for i := 0; i < k; i++ {
			gen(k - 1)
			if k%2 == 0 {
				s[i], s[k-1] = s[k-1], s[i]
			} else {
				s[0], s[k-1] = s[k-1], s[0]
			}
		}
	}
	gen(len(s))
}

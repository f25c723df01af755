package stateres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"sort"
	"testing"

	"chappe.eu/chappe/internal/room/event"
)

func key(typ, stateKey string) event.StateKeyTuple {
	return event.StateKeyTuple{Type: typ, StateKey: stateKey}
}

var (
	kCreate = key("m.room.create", "")
	kTopic  = key("m.room.topic", "")
	kName   = key("m.room.name", "")
)

var separateTests = []struct {
	name   string
	states []StateMap
	// unconflicted, and the conflicted keys with their events, for v2
	// (separate) and v1 (separateV1)
	v2Unconflicted, v1Unconflicted StateMap
	v2Conflicted, v1Conflicted     map[event.StateKeyTuple][]string
}{
	{
		name:           "same everywhere",
		states:         []StateMap{{kCreate: "$c", kTopic: "$t"}, {kCreate: "$c", kTopic: "$t"}},
		v2Unconflicted: StateMap{kCreate: "$c", kTopic: "$t"},
		v1Unconflicted: StateMap{kCreate: "$c", kTopic: "$t"},
		v2Conflicted:   map[event.StateKeyTuple][]string{},
		v1Conflicted:   map[event.StateKeyTuple][]string{},
	},
	{
		name:           "different events",
		states:         []StateMap{{kCreate: "$c", kTopic: "$t1"}, {kCreate: "$c", kTopic: "$t2"}},
		v2Unconflicted: StateMap{kCreate: "$c"},
		v1Unconflicted: StateMap{kCreate: "$c"},
		v2Conflicted:   map[event.StateKeyTuple][]string{kTopic: {"$t1", "$t2"}},
		v1Conflicted:   map[event.StateKeyTuple][]string{kTopic: {"$t1", "$t2"}},
	},
	{
		// v2: "If a given key K is present in every S_i with the same
		// value V"; v1: "A conflict occurs between states where those states
		// have different event_ids for the same (event_type, state_key)".
		name:           "missing from one state",
		states:         []StateMap{{kCreate: "$c", kName: "$n"}, {kCreate: "$c"}},
		v2Unconflicted: StateMap{kCreate: "$c"},
		v1Unconflicted: StateMap{kCreate: "$c", kName: "$n"},
		v2Conflicted:   map[event.StateKeyTuple][]string{kName: {"$n"}},
		v1Conflicted:   map[event.StateKeyTuple][]string{},
	},
	{
		name: "three states, two agreeing",
		states: []StateMap{
			{kCreate: "$c", kTopic: "$t1"}, {kCreate: "$c", kTopic: "$t2"}, {kCreate: "$c", kTopic: "$t1"},
		},
		v2Unconflicted: StateMap{kCreate: "$c"},
		v1Unconflicted: StateMap{kCreate: "$c"},
		v2Conflicted:   map[event.StateKeyTuple][]string{kTopic: {"$t1", "$t2"}},
		v1Conflicted:   map[event.StateKeyTuple][]string{kTopic: {"$t1", "$t2"}},
	},
}

func sortedConflicts(c map[event.StateKeyTuple][]string) map[event.StateKeyTuple][]string {
	for _, ids := range c {
		sort.Strings(ids)
	}
	return c
}

func TestSeparate(t *testing.T) {
	for _, tt := range separateTests {
		u, c := separate(tt.states)
		if !reflect.DeepEqual(u, tt.v2Unconflicted) || !reflect.DeepEqual(sortedConflicts(c), tt.v2Conflicted) {
			t.Errorf("%s: separate = %v, %v; want %v, %v", tt.name, u, c, tt.v2Unconflicted, tt.v2Conflicted)
		}
		u, c = separateV1(tt.states)
		if !reflect.DeepEqual(u, tt.v1Unconflicted) || !reflect.DeepEqual(sortedConflicts(c), tt.v1Conflicted) {
			t.Errorf("%s: separateV1 = %v, %v; want %v, %v", tt.name, u, c, tt.v1Unconflicted, tt.v1Conflicted)
		}
	}
}

// TestConflictedSubgraph runs the v2.1 subgraph on a bare auth graph:
//
//	5 → 4 → 3 → 2 → 1 → 0     (5 and 2 conflicted; 8 conflicted, alone)
//	5 → 6 → 0                 (6 leads to no conflicted event)
//	7 → 2                     (7 is not reachable from a conflicted event)
func TestConflictedSubgraph(t *testing.T) {
	g := &graph{
		events: make([]*event.Event, 9),
		auth:   [][]int32{0: nil, 1: {0}, 2: {1}, 3: {2}, 4: {3}, 5: {4, 6}, 6: {0}, 7: {2}, 8: {0}},
	}
	conflicted := newBitset(9)
	roots := []int32{5, 2, 8}
	for _, n := range roots {
		conflicted.add(n)
	}
	r := &resolution{g: g}
	var got []int32
	r.conflictedSubgraph(conflicted, roots).each(func(n int32) { got = append(got, n) })
	if want := []int32{2, 3, 4, 5, 8}; !reflect.DeepEqual(got, want) {
		t.Errorf("conflictedSubgraph = %v; want %v", got, want)
	}
}

func TestResolveTrivial(t *testing.T) {
	v, _ := event.Version("11")
	l := &mapLoader{}
	one := StateMap{kCreate: "$c", kTopic: "$t"}
	for _, tt := range []struct {
		states []StateMap
		want   StateMap
	}{
		{nil, StateMap{}},
		{[]StateMap{one}, one},
		{[]StateMap{one, {kCreate: "$c", kTopic: "$t"}}, one},
	} {
		got, err := Resolve(context.Background(), v, tt.states, l)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Resolve(%v) = %v, %v; want %v", tt.states, got, err, tt.want)
		}
	}
	if l.calls != 0 {
		t.Errorf("without conflicts the loader was called %d times; want 0", l.calls)
	}
	got, _ := Resolve(context.Background(), v, []StateMap{one}, l)
	got[kName] = "$n"
	if _, ok := one[kName]; ok {
		t.Error("Resolve returned its input map")
	}
}

func TestResolveMissingEvent(t *testing.T) {
	room := loadGoldenRoom(t, "testdata/topic_conflict.jsonl")
	for _, vid := range []string{"1", "11"} {
		b := room.build(t, vid)
		events := map[string]*event.Event{}
		for id, ev := range b.byID {
			if id != b.id["TB"] {
				events[id] = ev
			}
		}
		_, err := Resolve(context.Background(), b.v, b.forks, &mapLoader{events: events})
		if !errors.Is(err, ErrMissingEvent) {
			t.Errorf("v%s: Resolve without TB: err = %v; want ErrMissingEvent", vid, err)
		}
	}
}

func TestResolveStateKeyMismatch(t *testing.T) {
	for _, vid := range []string{"1", "11", "12"} {
		room := loadGoldenRoom(t, "testdata/topic_conflict.jsonl")
		if vid == "12" {
			room = loadGoldenRoom(t, "testdata/v12_topic_conflict.jsonl")
		}
		b := room.build(t, vid)
		forks := []StateMap{clone(b.forks[0]), b.forks[1]}
		forks[0][kName] = forks[0][kTopic] // a topic event at the name's key
		if _, err := Resolve(context.Background(), b.v, forks, &mapLoader{events: b.byID}); err == nil {
			t.Errorf("v%s: Resolve with an event at another key: no error", vid)
		}
	}
}

func TestResolveOtherRoom(t *testing.T) {
	b := loadGoldenRoom(t, "testdata/topic_conflict.jsonl").build(t, "11")
	tb := b.byID[b.id["TB"]]
	raw := bytes.Replace(tb.JSON(), []byte(`"!room:example.com"`), []byte(`"!other:example.com"`), 1)
	other, err := event.Parse(raw, b.v)
	if err != nil {
		t.Fatal(err)
	}
	events := maps.Clone(b.byID)
	events[other.EventID()] = other
	forks := []StateMap{b.forks[0], clone(b.forks[1])}
	forks[1][kTopic] = other.EventID()
	if _, err := Resolve(context.Background(), b.v, forks, &mapLoader{events: events}); err == nil {
		t.Error("Resolve with an event of another room: no error")
	}
}

// errLoader fails every call.
type errLoader struct{}

func (errLoader) Events(context.Context, []string) (map[string]*event.Event, error) {
	return nil, errors.New("database down")
}

func TestResolveLoaderError(t *testing.T) {
	b := loadGoldenRoom(t, "testdata/topic_conflict.jsonl").build(t, "11")
	if _, err := Resolve(context.Background(), b.v, b.forks, errLoader{}); err == nil || err.Error() != "database down" {
		t.Errorf("Resolve with a failing loader: err = %v; want the loader's", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Resolve(ctx, b.v, b.forks, &mapLoader{events: b.byID}); !errors.Is(err, context.Canceled) {
		t.Errorf("Resolve with a cancelled context: err = %v; want context.Canceled", err)
	}
}

// rejectingLoader is a RejectionLoader that says the events in rejected were
// rejected.
type rejectingLoader struct {
	mapLoader
	rejected map[string]bool
}

func (l *rejectingLoader) Rejected(ctx context.Context, ids []string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, id := range ids {
		if l.rejected[id] {
			out[id] = true
		}
	}
	return out, nil
}

var _ RejectionLoader = (*rejectingLoader)(nil)

// TestResolveRejectedAuthEvent: in v21_starts_from_empty Bob's power levels
// pass only by borrowing his join from their auth events; were the join
// rejected, it may not be borrowed ("the appropriate state event from the
// event's auth_events is used if the auth event is not rejected").
func TestResolveRejectedAuthEvent(t *testing.T) {
	b := loadGoldenRoom(t, "testdata/v21_starts_from_empty.jsonl").build(t, "12")
	ctx := context.Background()
	for _, tt := range []struct {
		rejected string
		want     string
	}{
		{"", "PB"},
		{"IMB", "PA"},
	} {
		l := &rejectingLoader{mapLoader: mapLoader{events: b.byID}, rejected: map[string]bool{b.id[tt.rejected]: true}}
		got, err := Resolve(ctx, b.v, b.forks, l)
		if err != nil {
			t.Fatal(err)
		}
		if pl := b.name(got[powerLevelsKey]); pl != tt.want {
			t.Errorf("with %q rejected: power levels = %s; want %s", tt.rejected, pl, tt.want)
		}
	}
}

func TestResolveUnknownAlgorithm(t *testing.T) {
	v := &event.RoomVersion{ID: "x", StateRes: 3}
	_, err := Resolve(context.Background(), v, []StateMap{{kTopic: "$a"}, {kTopic: "$b"}}, &mapLoader{})
	if err == nil {
		t.Error("Resolve with StateRes 3: no error")
	}
	if _, err := Resolve(context.Background(), nil, nil, &mapLoader{}); err == nil {
		t.Error("Resolve with no room version: no error")
	}
}

func ExampleResolve() {
	// In a server, the loader reads the database; here, nothing is in
	// conflict, so nothing is loaded.
	v, _ := event.Version("12")
	a := StateMap{kCreate: "$create", kTopic: "$topic"}
	b := StateMap{kCreate: "$create", kTopic: "$topic"}
	s, err := Resolve(context.Background(), v, []StateMap{a, b}, &mapLoader{})
	fmt.Println(s[kTopic], err)
	// Output: $topic <nil>
}

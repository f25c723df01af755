package clientapi_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"chappe.eu/chappe/internal/config"
	"chappe.eu/chappe/internal/testserver"
)

// Helpers of the search tests, prefixed srch.

var srchTxn atomic.Int64

// srchServer starts a server whose private rooms are not encrypted by
// default: encrypted rooms are not searchable.
func srchServer(t *testing.T, engine string) *testserver.Server {
	t.Helper()
	return start(t, engine, func(c *config.Config) { c.Rooms.EncryptPrivate = false })
}

func srchRoom(t *testing.T, c *testserver.Client, body map[string]any) string {
	t.Helper()
	if body == nil {
		body = map[string]any{}
	}
	id := c.MustDo("POST", v3+"/createRoom", body, http.StatusOK).String("room_id")
	if id == "" {
		t.Fatal("createRoom returned no room_id")
	}
	return id
}

func srchPath(roomID, suffix string) string { return v3 + "/rooms/" + url.PathEscape(roomID) + suffix }

// srchSend sends an m.text message and returns its event ID.
func srchSend(t *testing.T, c *testserver.Client, roomID, body string) string {
	t.Helper()
	return srchSendContent(t, c, roomID, map[string]any{"msgtype": "m.text", "body": body})
}

func srchSendContent(t *testing.T, c *testserver.Client, roomID string, content map[string]any) string {
	t.Helper()
	path := srchPath(roomID, fmt.Sprintf("/send/m.room.message/srch%d", srchTxn.Add(1)))
	return c.MustDo("PUT", path, content, http.StatusOK).String("event_id")
}

func srchState(t *testing.T, c *testserver.Client, roomID, typ string, content map[string]any) string {
	t.Helper()
	return c.MustDo("PUT", srchPath(roomID, "/state/"+typ+"/"), content, http.StatusOK).String("event_id")
}

func srchJoin(t *testing.T, c *testserver.Client, roomID string) {
	t.Helper()
	c.MustDo("POST", v3+"/join/"+url.PathEscape(roomID), map[string]any{}, http.StatusOK)
}

// srchDo posts a room_events search with the given criteria.
func srchDo(c *testserver.Client, criteria map[string]any, nextBatch string) *testserver.Response {
	path := v3 + "/search"
	if nextBatch != "" {
		path += "?next_batch=" + url.QueryEscape(nextBatch)
	}
	return c.Do("POST", path, map[string]any{"search_categories": map[string]any{"room_events": criteria}})
}

// srchMust is srchDo that fails the test unless the answer is 200, and
// returns search_categories.room_events.
func srchMust(t testing.TB, c *testserver.Client, criteria map[string]any, nextBatch string) map[string]any {
	t.Helper()
	r := srchDo(c, criteria, nextBatch)
	if r.Status != http.StatusOK {
		t.Fatalf("search %v = %d %s; want 200", criteria, r.Status, r.Raw)
	}
	re, ok := r.Body["search_categories"].(map[string]any)["room_events"].(map[string]any)
	if !ok {
		t.Fatalf("search %v: no room_events in %s", criteria, r.Raw)
	}
	return re
}

// srchIDs returns the event IDs of the results, in order.
func srchIDs(re map[string]any) []string {
	ids := []string{}
	for _, r := range re["results"].([]any) {
		ids = append(ids, r.(map[string]any)["result"].(map[string]any)["event_id"].(string))
	}
	return ids
}

func srchCount(re map[string]any) int { n, _ := re["count"].(float64); return int(n) }

// srchAll follows next_batch to the end and returns every event ID.
func srchAll(t *testing.T, c *testserver.Client, criteria map[string]any) []string {
	t.Helper()
	var all []string
	next := ""
	for range 100 {
		re := srchMust(t, c, criteria, next)
		all = append(all, srchIDs(re)...)
		next, _ = re["next_batch"].(string)
		if next == "" {
			return all
		}
	}
	t.Fatal("next_batch never ends")
	return nil
}

// sorted returns a sorted copy of s, never nil, for comparisons.
func sorted(s []string) []string {
	s = append([]string{}, s...)
	sort.Strings(s)
	return s
}

// TestSearchRankAndRecent: rank puts the event with the most occurrences
// first and recent the newest; only matching events come back, with
// their rank, the count and the words to highlight ("Server Side
// Search": ordering).
func TestSearchRankAndRecent(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := srchServer(t, engine)
		alice := srv.Register(t, "alice", password)
		room := srchRoom(t, alice, map[string]any{"name": "Kitchen"})
		once := srchSend(t, alice, room, "An apple pie recipe for everyone in the kitchen today")
		thrice := srchSend(t, alice, room, "Apple, apple, APPLES!")
		srchSend(t, alice, room, "banana bread")
		last := srchSend(t, alice, room, "I ate an applesauce")

		re := srchMust(t, alice, map[string]any{"search_term": "apple"}, "")
		ids := srchIDs(re)
		if len(ids) != 3 || ids[0] != thrice {
			t.Fatalf("rank order = %v; want 3 results, %s first", ids, thrice)
		}
		if srchCount(re) != 3 {
			t.Errorf("count = %v; want 3", re["count"])
		}
		var ranks []float64
		for _, r := range re["results"].([]any) {
			ranks = append(ranks, r.(map[string]any)["rank"].(float64))
		}
		if !sort.IsSorted(sort.Reverse(sort.Float64Slice(ranks))) || ranks[0] <= ranks[2] {
			t.Errorf("ranks = %v; want descending, the first above the last", ranks)
		}
		hl := fmt.Sprint(re["highlights"])
		for _, w := range []string{"Apple", "APPLES", "applesauce", "apple"} {
			if !strings.Contains(hl, w) {
				t.Errorf("highlights = %s; want %s among them", hl, w)
			}
		}
		if _, ok := re["next_batch"]; ok {
			t.Errorf("next_batch = %v on the only page; want none", re["next_batch"])
		}
		first := re["results"].([]any)[0].(map[string]any)["result"].(map[string]any)
		if first["room_id"] != room || first["content"].(map[string]any)["body"] != "Apple, apple, APPLES!" {
			t.Errorf("result = %v; want the event with its room_id", first)
		}

		re = srchMust(t, alice, map[string]any{"search_term": "apple", "order_by": "recent"}, "")
		if got, want := srchIDs(re), []string{last, thrice, once}; !reflect.DeepEqual(got, want) {
			t.Errorf("recent order = %v; want %v", got, want)
		}

		// Room names and topics are searched too, unless keys say otherwise.
		nameEv := srchState(t, alice, room, "m.room.name", map[string]any{"name": "Orchard of apples"})
		topicEv := srchState(t, alice, room, "m.room.topic", map[string]any{"topic": "Pears and plums",
			"m.topic": map[string]any{"m.text": []any{map[string]any{"body": "Pears and plums"}}}})
		re = srchMust(t, alice, map[string]any{"search_term": "apple", "order_by": "recent"}, "")
		if got := srchIDs(re); len(got) != 4 || got[0] != nameEv {
			t.Errorf("search with the room name = %v; want the name event first of 4", got)
		}
		re = srchMust(t, alice, map[string]any{"search_term": "apple", "keys": []string{"content.body"}}, "")
		if got := srchIDs(re); slices.Contains(got, nameEv) || len(got) != 3 {
			t.Errorf("keys [content.body] = %v; want the 3 messages only", got)
		}
		re = srchMust(t, alice, map[string]any{"search_term": "plum", "keys": []string{"content.topic"}}, "")
		if got := srchIDs(re); !reflect.DeepEqual(got, []string{topicEv}) {
			t.Errorf("keys [content.topic] = %v; want [%s]", got, topicEv)
		}

		// Query syntax, accents and case.
		accent := srchSend(t, alice, room, "Réunion à l'Élysée demain")
		for term, want := range map[string][]string{
			"reunion elysee":      {accent},
			"RÉUNION":             {accent},
			`"apple pie"`:         {once},
			`"pie apple"`:         {},
			"apple -pie":          {thrice, last},
			"banana or elysee":    nil, // checked by count below
			"!!!":                 {},
			"":                    {},
			"zzz-nothing-matches": {},
		} {
			re := srchMust(t, alice, map[string]any{"search_term": term, "order_by": "recent", "keys": []string{"content.body"}}, "")
			got := srchIDs(re)
			if want == nil {
				if len(got) != 2 {
					t.Errorf("search %q = %v; want 2 results", term, got)
				}
				continue
			}
			if !reflect.DeepEqual(sorted(got), sorted(want)) {
				t.Errorf("search %q = %v; want %v", term, got, want)
			}
		}
	})
}

// TestSearchPagination: following next_batch returns every result once,
// in both orders and within a group, and a message sent while paging
// does not shift the pages.
func TestSearchPagination(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := srchServer(t, engine)
		alice := srv.Register(t, "alice", password)
		roomA := srchRoom(t, alice, nil)
		roomB := srchRoom(t, alice, nil)
		var inA, all []string
		for i := range 23 {
			room := roomB
			if i%3 != 0 {
				room = roomA
			}
			// Different lengths and counts give different ranks, and
			// repeats give ties, which pagination must also order.
			id := srchSend(t, alice, room, strings.Repeat("needle ", 1+i%4)+strings.Repeat("hay ", i%5))
			all = append(all, id)
			if room == roomA {
				inA = append(inA, id)
			}
		}
		for _, order := range []string{"rank", "recent"} {
			criteria := map[string]any{"search_term": "needle", "order_by": order, "filter": map[string]any{"limit": 4}}
			first := srchMust(t, alice, criteria, "")
			if got := len(srchIDs(first)); got != 4 {
				t.Fatalf("%s: first page has %d results; want 4", order, got)
			}
			if srchCount(first) != len(all) {
				t.Errorf("%s: count = %v; want %d", order, first["count"], len(all))
			}
			// A new match after the first page stays out of this search.
			late := srchSend(t, alice, roomA, "needle needle needle needle needle")
			got := srchIDs(first)
			next := first["next_batch"].(string)
			for pages := 0; next != ""; pages++ {
				if pages > 2*len(all) {
					t.Fatalf("%s: next_batch never ends", order)
				}
				re := srchMust(t, alice, criteria, next)
				got = append(got, srchIDs(re)...)
				next, _ = re["next_batch"].(string)
			}
			if !reflect.DeepEqual(sorted(got), sorted(all)) {
				t.Errorf("%s: pages returned %d events %v; want each of the %d once", order, len(got), got, len(all))
			}
			all = append(all, late)
			inA = append(inA, late)
		}

		// Groups: each page says which results are in which group; a
		// group's next_batch pages through that group only.
		criteria := map[string]any{"search_term": "needle", "order_by": "recent", "filter": map[string]any{"limit": 5},
			"groupings": map[string]any{"group_by": []any{map[string]any{"key": "room_id"}, map[string]any{"key": "sender"}}}}
		re := srchMust(t, alice, criteria, "")
		groups := re["groups"].(map[string]any)
		byRoom := groups["room_id"].(map[string]any)
		var grouped []string
		for room, g := range byRoom {
			g := g.(map[string]any)
			for _, id := range g["results"].([]any) {
				grouped = append(grouped, id.(string))
			}
			if g["order"].(float64) < 1 {
				t.Errorf("group %s order = %v; want 1 or more", room, g["order"])
			}
		}
		if !reflect.DeepEqual(sorted(grouped), sorted(srchIDs(re))) {
			t.Errorf("room groups hold %v; want the page's results %v", grouped, srchIDs(re))
		}
		if s := groups["sender"].(map[string]any)[alice.UserID].(map[string]any); len(s["results"].([]any)) != 5 {
			t.Errorf("sender group = %v; want alice's 5 results", s)
		}
		gA, ok := byRoom[roomA].(map[string]any)
		if !ok {
			t.Fatalf("no group for room A in %v", byRoom)
		}
		got := toStrings(gA["results"].([]any))
		next := gA["next_batch"].(string)
		for pages := 0; next != ""; pages++ {
			if pages > 2*len(inA) {
				t.Fatal("room A's next_batch never ends")
			}
			re := srchMust(t, alice, criteria, next)
			for _, id := range srchIDs(re) {
				if !slices.Contains(inA, id) {
					t.Errorf("paging room A's group returned %s of another room", id)
				}
			}
			got = append(got, srchIDs(re)...)
			next, _ = re["next_batch"].(string)
		}
		if !reflect.DeepEqual(sorted(got), sorted(inA)) {
			t.Errorf("room A's group paged %d events; want its %d", len(got), len(inA))
		}
	})
}

func toStrings(l []any) []string {
	out := make([]string, len(l))
	for i, v := range l {
		out[i], _ = v.(string)
	}
	return out
}

// TestSearchFilters: the filter's rooms, not_rooms, senders, not_senders,
// types and contains_url narrow the search; its limit sizes the page.
func TestSearchFilters(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := srchServer(t, engine)
		alice := srv.Register(t, "alice", password)
		bob := srv.Register(t, "bob", password)
		roomA := srchRoom(t, alice, map[string]any{"preset": "public_chat"})
		roomB := srchRoom(t, alice, map[string]any{"preset": "public_chat"})
		srchJoin(t, bob, roomA)
		a1 := srchSend(t, alice, roomA, "kiwi from alice in A")
		b1 := srchSend(t, bob, roomA, "kiwi from bob in A")
		a2 := srchSend(t, alice, roomB, "kiwi from alice in B")
		img := srchSendContent(t, alice, roomB, map[string]any{"msgtype": "m.image", "body": "kiwi.png", "url": "mxc://chappe.test/kiwi"})
		name := srchState(t, alice, roomB, "m.room.name", map[string]any{"name": "Kiwi lovers"})
		for _, tt := range []struct {
			filter map[string]any
			want   []string
		}{
			{nil, []string{a1, b1, a2, img, name}},
			{map[string]any{"rooms": []string{roomA}}, []string{a1, b1}},
			{map[string]any{"rooms": []string{}}, []string{}},
			{map[string]any{"rooms": []string{"!nul\u0000:x", roomA}}, []string{a1, b1}},
			{map[string]any{"not_rooms": []string{roomA}}, []string{a2, img, name}},
			{map[string]any{"senders": []string{bob.UserID}}, []string{b1}},
			{map[string]any{"not_senders": []string{bob.UserID}}, []string{a1, a2, img, name}},
			{map[string]any{"types": []string{"m.room.name"}}, []string{name}},
			{map[string]any{"not_types": []string{"m.room.*"}}, []string{}},
			{map[string]any{"contains_url": true}, []string{img}},
			{map[string]any{"contains_url": false, "types": []string{"m.room.message"}}, []string{a1, b1, a2}},
		} {
			criteria := map[string]any{"search_term": "kiwi", "order_by": "recent"}
			if tt.filter != nil {
				criteria["filter"] = tt.filter
			}
			if got := srchAll(t, alice, criteria); !reflect.DeepEqual(sorted(got), sorted(tt.want)) {
				t.Errorf("filter %v = %v; want %v", tt.filter, got, tt.want)
			}
		}
		// Naming an upgraded room searches its predecessor too, as Synapse does.
		old := srchSend(t, alice, roomA, "kiwi before the upgrade")
		newRoom := alice.MustDo("POST", srchPath(roomA, "/upgrade"), map[string]any{"new_version": "11"}, http.StatusOK).String("replacement_room")
		newer := srchSend(t, alice, newRoom, "kiwi after the upgrade")
		got := srchAll(t, alice, map[string]any{"search_term": "upgrade", "filter": map[string]any{"rooms": []string{newRoom}}})
		if !reflect.DeepEqual(sorted(got), sorted([]string{old, newer})) {
			t.Errorf("search of the upgraded room = %v; want %s of the old room and %s of the new", got, old, newer)
		}
		re := srchMust(t, alice, map[string]any{"search_term": "kiwi", "filter": map[string]any{"limit": 2}}, "")
		if len(srchIDs(re)) != 2 || re["next_batch"] == nil {
			t.Errorf("limit 2 = %v, next_batch %v; want 2 results and a next_batch", srchIDs(re), re["next_batch"])
		}
		re = srchMust(t, alice, map[string]any{"search_term": "kiwi", "filter": map[string]any{"limit": 0}}, "")
		if len(srchIDs(re)) != 0 || re["next_batch"] != nil || srchCount(re) != 7 {
			t.Errorf("limit 0 = %v, next_batch %v, count %v; want nothing but the count 7", srchIDs(re), re["next_batch"], re["count"])
		}
	})
}

// TestSearchContext: event_context returns visible events around each
// result, in order, /messages tokens and the senders' profiles as of
// then; include_state returns the room's state.
func TestSearchContext(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := srchServer(t, engine)
		alice := srv.Register(t, "alice", password)
		bob := srv.Register(t, "bob", password)
		bob.MustDo("PUT", v3+"/profile/"+bob.UserID+"/displayname", map[string]any{"displayname": "Bobby"}, http.StatusOK)
		room := srchRoom(t, alice, map[string]any{"preset": "public_chat"})
		srchJoin(t, bob, room)
		b1 := srchSend(t, alice, room, "one")
		b2 := srchSend(t, bob, room, "two")
		srchSend(t, alice, room, "the quince is here")
		a1 := srchSend(t, bob, room, "four")
		a2 := srchSend(t, alice, room, "five")
		srchSend(t, alice, room, "six")
		// Bob renames himself later: profile_info is as of the context.
		bob.MustDo("PUT", v3+"/profile/"+bob.UserID+"/displayname", map[string]any{"displayname": "Robert"}, http.StatusOK)
		srchJoin(t, bob, room) // a member event with the new name

		re := srchMust(t, alice, map[string]any{"search_term": "quince", "include_state": true,
			"event_context": map[string]any{"before_limit": 2, "after_limit": 2, "include_profile": true}}, "")
		results := re["results"].([]any)
		if len(results) != 1 {
			t.Fatalf("results = %v; want 1", results)
		}
		c := results[0].(map[string]any)["context"].(map[string]any)
		ids := func(key string) []string {
			var out []string
			for _, e := range c[key].([]any) {
				out = append(out, e.(map[string]any)["event_id"].(string))
			}
			return out
		}
		if got := ids("events_before"); !reflect.DeepEqual(got, []string{b1, b2}) {
			t.Errorf("events_before = %v; want [%s %s]", got, b1, b2)
		}
		if got := ids("events_after"); !reflect.DeepEqual(got, []string{a1, a2}) {
			t.Errorf("events_after = %v; want [%s %s]", got, a1, a2)
		}
		pi := c["profile_info"].(map[string]any)
		if name := pi[bob.UserID].(map[string]any)["displayname"]; name != "Bobby" {
			t.Errorf("profile_info of bob = %v; want the name he had then, Bobby", pi[bob.UserID])
		}
		if _, ok := pi[alice.UserID]; !ok {
			t.Errorf("profile_info = %v; want alice too", pi)
		}
		// The tokens continue with /messages.
		r := alice.MustDo("GET", srchPath(room, "/messages?dir=b&limit=1&from="+url.QueryEscape(c["start"].(string))), nil, http.StatusOK)
		if chunk := r.Body["chunk"].([]any); len(chunk) != 1 || chunk[0].(map[string]any)["event_id"] == b1 {
			t.Errorf("/messages before the context start = %v; want the event before %s", chunk, b1)
		}
		r = alice.MustDo("GET", srchPath(room, "/messages?dir=f&limit=1&from="+url.QueryEscape(c["end"].(string))), nil, http.StatusOK)
		if chunk := r.Body["chunk"].([]any); len(chunk) != 1 || chunk[0].(map[string]any)["content"].(map[string]any)["body"] != "six" {
			t.Errorf("/messages after the context end = %v; want six", chunk)
		}
		state := re["state"].(map[string]any)[room].([]any)
		found := false
		for _, e := range state {
			e := e.(map[string]any)
			if e["type"] == "m.room.member" && e["state_key"] == bob.UserID && e["content"].(map[string]any)["displayname"] == "Robert" {
				found = true
			}
		}
		if !found {
			t.Errorf("state = %v; want the current state, with Robert's member event", state)
		}
		// No context unless asked.
		re = srchMust(t, alice, map[string]any{"search_term": "quince"}, "")
		if _, ok := re["results"].([]any)[0].(map[string]any)["context"]; ok {
			t.Errorf("context without event_context: %v", re["results"])
		}
	})
}

// TestSearchVisibility: a user finds only what they may see: nothing of
// a room they were never in, nothing after their leave, nothing from
// before their join under history_visibility joined (in results and in
// context); redacted events and encrypted rooms are not searchable.
func TestSearchVisibility(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := srchServer(t, engine)
		alice := srv.Register(t, "alice", password)
		bob := srv.Register(t, "bob", password)
		carol := srv.Register(t, "carol", password)
		dave := srv.Register(t, "dave", password)

		room := srchRoom(t, alice, map[string]any{"preset": "public_chat"})
		srchJoin(t, bob, room)
		before := srchSend(t, alice, room, "secret plan alpha")
		bob.MustDo("POST", srchPath(room, "/leave"), map[string]any{}, http.StatusOK)
		srchSend(t, alice, room, "secret plan beta, after bob left")

		if got := srchAll(t, bob, map[string]any{"search_term": "secret"}); !reflect.DeepEqual(got, []string{before}) {
			t.Errorf("bob, who left, finds %v; want only %s from before his leave", got, before)
		}
		re := srchMust(t, bob, map[string]any{"search_term": "secret", "event_context": map[string]any{"after_limit": 10}}, "")
		for _, e := range re["results"].([]any)[0].(map[string]any)["context"].(map[string]any)["events_after"].([]any) {
			if e.(map[string]any)["type"] == "m.room.message" {
				t.Errorf("bob's context shows %v, sent after he left", e)
			}
		}
		if srchCount(re) != 1 {
			t.Errorf("bob's count = %v; want 1", re["count"])
		}
		re = srchMust(t, carol, map[string]any{"search_term": "secret"}, "")
		if got := srchIDs(re); len(got) != 0 || srchCount(re) != 0 {
			t.Errorf("carol, never in the room, finds %v (count %v); want nothing", got, re["count"])
		}
		re = srchMust(t, carol, map[string]any{"search_term": "secret", "filter": map[string]any{"rooms": []string{room}}}, "")
		if got := srchIDs(re); len(got) != 0 {
			t.Errorf("carol, naming the room, finds %v; want nothing", got)
		}

		// A forgotten room is not searched.
		bob.MustDo("POST", srchPath(room, "/forget"), map[string]any{}, http.StatusOK)
		if got := srchAll(t, bob, map[string]any{"search_term": "secret"}); len(got) != 0 {
			t.Errorf("bob finds %v in a room he forgot; want nothing", got)
		}

		// history_visibility joined: dave, who joins later, sees from his join.
		joined := srchRoom(t, alice, map[string]any{"preset": "public_chat"})
		srchState(t, alice, joined, "m.room.history_visibility", map[string]any{"history_visibility": "joined"})
		srchSend(t, alice, joined, "walnut early")
		srchSend(t, alice, joined, "filler")
		srchJoin(t, dave, joined)
		late := srchSend(t, alice, joined, "walnut late")
		re = srchMust(t, dave, map[string]any{"search_term": "walnut", "event_context": map[string]any{"before_limit": 10}}, "")
		if got := srchIDs(re); !reflect.DeepEqual(got, []string{late}) {
			t.Errorf("dave (joined later, visibility joined) finds %v; want only %s", got, late)
		}
		for _, e := range re["results"].([]any)[0].(map[string]any)["context"].(map[string]any)["events_before"].([]any) {
			if e.(map[string]any)["type"] == "m.room.message" {
				t.Errorf("dave's context shows %v, from before he joined", e)
			}
		}
		if got := srchAll(t, alice, map[string]any{"search_term": "walnut"}); len(got) != 2 {
			t.Errorf("alice finds %v; want both walnuts", got)
		}

		// Redacted messages vanish from results and the count.
		redacted := srchSend(t, alice, joined, "walnut to be redacted")
		alice.MustDo("PUT", srchPath(joined, "/redact/"+url.PathEscape(redacted)+"/srchr1"), map[string]any{}, http.StatusOK)
		re = srchMust(t, alice, map[string]any{"search_term": "walnut"}, "")
		if got := srchIDs(re); slices.Contains(got, redacted) || len(got) != 2 || srchCount(re) != 2 {
			t.Errorf("after redaction alice finds %v (count %v); want the 2 others", got, re["count"])
		}

		// Encrypted rooms: nothing is searchable, not even what came before.
		enc := srchRoom(t, alice, nil)
		srchSend(t, alice, enc, "hazelnut before encryption")
		srchState(t, alice, enc, "m.room.encryption", map[string]any{"algorithm": "m.megolm.v1.aes-sha2"})
		srchSend(t, alice, enc, "hazelnut sent in clear by a buggy client")
		if got := srchAll(t, alice, map[string]any{"search_term": "hazelnut"}); len(got) != 0 {
			t.Errorf("search of an encrypted room found %v; want nothing", got)
		}
	})
}

// TestSearchBadInput: malformed requests are 400s with the spec's
// errcodes, never 500s; search needs an access token.
func TestSearchBadInput(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := srchServer(t, engine)
		alice := srv.Register(t, "alice", password)
		room := srchRoom(t, alice, nil)
		srchSend(t, alice, room, "x marks the spot")
		srchSend(t, alice, room, "x again")
		rank := srchMust(t, alice, map[string]any{"search_term": "x", "filter": map[string]any{"limit": 1}}, "")["next_batch"].(string)
		b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
		for _, tt := range []struct {
			name    string
			body    any
			next    string
			errcode string
		}{
			{"unknown category", map[string]any{"search_categories": map[string]any{"room_events": map[string]any{"search_term": "x"}, "people": map[string]any{}}}, "", "M_INVALID_PARAM"},
			{"no categories", map[string]any{}, "", "M_MISSING_PARAM"},
			{"no room_events", map[string]any{"search_categories": map[string]any{}}, "", "M_MISSING_PARAM"},
			{"categories not an object", map[string]any{"search_categories": []any{}}, "", "M_BAD_JSON"},
			{"no search_term", srchBody(map[string]any{}), "", "M_MISSING_PARAM"},
			{"search_term not a string", srchBody(map[string]any{"search_term": 5}), "", "M_BAD_JSON"},
			{"too many words", srchBody(map[string]any{"search_term": strings.Repeat("w ", 40)}), "", "M_INVALID_PARAM"},
			{"bad order_by", srchBody(map[string]any{"search_term": "x", "order_by": "oldest"}), "", "M_INVALID_PARAM"},
			{"bad key", srchBody(map[string]any{"search_term": "x", "keys": []string{"content.url"}}), "", "M_INVALID_PARAM"},
			{"bad group", srchBody(map[string]any{"search_term": "x", "groupings": map[string]any{"group_by": []any{map[string]any{"key": "type"}}}}), "", "M_INVALID_PARAM"},
			{"negative before_limit", srchBody(map[string]any{"search_term": "x", "event_context": map[string]any{"before_limit": -1}}), "", "M_INVALID_PARAM"},
			{"negative after_limit", srchBody(map[string]any{"search_term": "x", "event_context": map[string]any{"after_limit": -5}}), "", "M_INVALID_PARAM"},
			{"negative filter limit", srchBody(map[string]any{"search_term": "x", "filter": map[string]any{"limit": -1}}), "", "M_BAD_JSON"},
			{"filter not an object", srchBody(map[string]any{"search_term": "x", "filter": "nope"}), "", "M_BAD_JSON"},
			{"next_batch garbage", srchBody(map[string]any{"search_term": "x"}), "!!!", "M_INVALID_PARAM"},
			{"next_batch not JSON", srchBody(map[string]any{"search_term": "x"}), b64("hello"), "M_INVALID_PARAM"},
			{"next_batch extra field", srchBody(map[string]any{"search_term": "x"}), b64(`{"o":"rank","p":1,"u":2,"z":1}`), "M_INVALID_PARAM"},
			{"next_batch negative", srchBody(map[string]any{"search_term": "x"}), b64(`{"o":"rank","p":-1,"u":2}`), "M_INVALID_PARAM"},
			{"next_batch bad group", srchBody(map[string]any{"search_term": "x"}), b64(`{"o":"rank","p":1,"u":2,"g":"type","k":"a"}`), "M_INVALID_PARAM"},
			{"next_batch NUL group", srchBody(map[string]any{"search_term": "x"}), b64(`{"o":"rank","p":1,"u":2,"g":"room_id","k":"\u0000"}`), "M_INVALID_PARAM"},
			{"next_batch of the other order", srchBody(map[string]any{"search_term": "x", "order_by": "recent"}), rank, "M_INVALID_PARAM"},
			{"not JSON", "{", "", "M_NOT_JSON"},
		} {
			path := v3 + "/search"
			if tt.next != "" {
				path += "?next_batch=" + url.QueryEscape(tt.next)
			}
			wantErr(t, tt.name, alice.Do("POST", path, tt.body), http.StatusBadRequest, tt.errcode)
		}
		wantErr(t, "search without a token", srv.Client(t).Do("POST", v3+"/search", srchBody(map[string]any{"search_term": "x"})),
			http.StatusUnauthorized, "M_MISSING_TOKEN")
		// Hostile but valid input is answered, not crashed on.
		for _, term := range []string{"\u0000", "x\u0000y", `'); DROP TABLE events; --`, `"*" NEAR OR AND NOT ( ) :*`, strings.Repeat("é", 3000), "\U0010FFFF"} {
			wantNo500(t, "search "+term, srchDo(alice, map[string]any{"search_term": term}, ""))
			wantNo500(t, "search "+term, srchDo(alice, map[string]any{"search_term": term, "order_by": "recent"}, ""))
		}
		wantNo500(t, "NUL senders", srchDo(alice, map[string]any{"search_term": "x", "filter": map[string]any{"senders": []string{"@\u0000:x"}, "not_senders": []string{"\u0000"}, "not_rooms": []string{"\u0000"}}}, ""))
	})
}

func srchBody(criteria map[string]any) map[string]any {
	return map[string]any{"search_categories": map[string]any{"room_events": criteria}}
}

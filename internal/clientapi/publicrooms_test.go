package clientapi_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"chappe.eu/chappe/internal/testserver"
)

// chunkIDs returns the room IDs of a /publicRooms chunk, in order.
func chunkIDs(t *testing.T, r *testserver.Response) []string {
	t.Helper()
	chunk, ok := r.Body["chunk"].([]any)
	if !ok {
		t.Fatalf("no chunk in %s", r.Raw)
	}
	var ids []string
	for _, e := range chunk {
		ids = append(ids, e.(map[string]any)["room_id"].(string))
	}
	return ids
}

// chunkEntry returns the chunk's entry for a room, nil if absent.
func chunkEntry(r *testserver.Response, roomID string) map[string]any {
	chunk, _ := r.Body["chunk"].([]any)
	for _, e := range chunk {
		if m := e.(map[string]any); m["room_id"] == roomID {
			return m
		}
	}
	return nil
}

// TestPublicRooms covers GET and POST /publicRooms: entries, order,
// filters, which published rooms are listed, and errors.
func TestPublicRooms(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := dirServer(t, engine)
		alice := srv.Register(t, "alice", password)
		bob := srv.Register(t, "bob", password)
		carol := srv.Register(t, "carol", password)
		anon := srv.Client(t)

		// big: 3 members, every field set.
		big := newRoom(t, alice, map[string]any{"preset": "public_chat", "visibility": "public", "name": "Big Room",
			"room_alias_name": "big", "topic": "plain fallback"})
		putState(t, alice, big, "m.room.topic", "", map[string]any{"topic": "Plain fallback",
			"m.topic": map[string]any{"m.text": []any{
				map[string]any{"mimetype": "text/html", "body": "<b>Cheese</b>"},
				map[string]any{"body": "Cheese, plainly"},
			}}})
		putState(t, alice, big, "m.room.avatar", "", map[string]any{"url": "mxc://chappe.test/abc"})
		putState(t, alice, big, "m.room.history_visibility", "", map[string]any{"history_visibility": "world_readable"})
		putState(t, alice, big, "m.room.guest_access", "", map[string]any{"guest_access": "can_join"})
		join(t, bob, big)
		join(t, carol, big)
		// space: 1 member, a space, knock join rule.
		space := newRoom(t, alice, map[string]any{"preset": "public_chat", "visibility": "public", "name": "A space",
			"creation_content": map[string]any{"type": "m.space"}})
		putState(t, alice, space, "m.room.join_rules", "", map[string]any{"join_rule": "knock"})
		// small: 2 members, topic only in the topic key.
		small := newRoom(t, bob, map[string]any{"preset": "public_chat", "visibility": "public", "topic": "Gardening tips"})
		join(t, carol, small)
		// hidden: published but invite-only and not world_readable.
		hidden := newRoom(t, alice, map[string]any{"preset": "private_chat", "visibility": "public", "name": "Hidden"})
		// unpublished: not in the directory.
		unpublished := newRoom(t, alice, map[string]any{"preset": "public_chat", "name": "Big secret"})

		r := anon.MustDo("GET", v3+"/publicRooms", nil, http.StatusOK)
		if got, want := chunkIDs(t, r), []string{big, small, space}; !slices.Equal(got, want) {
			t.Fatalf("publicRooms = %v; want %v (most members first, no invite-only or unpublished room)\n%s", got, want, r.Raw)
		}
		if r.Body["total_room_count_estimate"] != 3.0 || r.Body["next_batch"] != nil || r.Body["prev_batch"] != nil {
			t.Errorf("one page of everything: total %v, next %v, prev %v; want 3 and no tokens", r.Body["total_room_count_estimate"], r.Body["next_batch"], r.Body["prev_batch"])
		}
		e := chunkEntry(r, big)
		want := map[string]any{"room_id": big, "name": "Big Room", "topic": "Cheese, plainly", "canonical_alias": "#big:chappe.test",
			"num_joined_members": 3.0, "world_readable": true, "guest_can_join": true, "join_rule": "public",
			"avatar_url": "mxc://chappe.test/abc"}
		if fmt.Sprint(e) != fmt.Sprint(want) {
			t.Errorf("entry = %v;\nwant %v", e, want)
		}
		e = chunkEntry(r, space)
		if e["room_type"] != "m.space" || e["join_rule"] != "knock" || e["num_joined_members"] != 1.0 || e["world_readable"] != false || e["guest_can_join"] != false {
			t.Errorf("space entry = %v; want room_type m.space, join_rule knock, 1 member, not world_readable, no guests", e)
		}
		if e = chunkEntry(r, small); e["topic"] != "Gardening tips" || e["name"] != nil || e["canonical_alias"] != nil {
			t.Errorf("small entry = %v; want the topic key's topic and no name or alias", e)
		}

		// A redacted state event counts as redacted: no topic.
		topicID := bob.MustDo("GET", dirRoomPath(small, "/state/m.room.topic/?format=event"), nil, http.StatusOK).String("event_id")
		bob.MustDo("PUT", dirRoomPath(small, "/redact/"+url.PathEscape(topicID)+"/r1"), map[string]any{}, http.StatusOK)
		if e := chunkEntry(anon.MustDo("GET", v3+"/publicRooms", nil, http.StatusOK), small); e == nil || e["topic"] != nil {
			t.Errorf("small entry after redacting its topic = %v; want no topic", e)
		}

		post := func(body map[string]any) []string {
			t.Helper()
			return chunkIDs(t, bob.MustDo("POST", v3+"/publicRooms", body, http.StatusOK))
		}
		for _, tc := range []struct {
			what string
			body map[string]any
			want []string
		}{
			{"no filter", map[string]any{}, []string{big, small, space}},
			{"null filter", map[string]any{"filter": nil}, []string{big, small, space}},
			{"name, any case", map[string]any{"filter": map[string]any{"generic_search_term": "big ROOM"}}, []string{big}},
			{"topic", map[string]any{"filter": map[string]any{"generic_search_term": "cheese"}}, []string{big}},
			{"redacted topic", map[string]any{"filter": map[string]any{"generic_search_term": "garden"}}, nil},
			{"alias", map[string]any{"filter": map[string]any{"generic_search_term": "#big:"}}, []string{big}},
			{"no match", map[string]any{"filter": map[string]any{"generic_search_term": "secret"}}, nil},
			{"spaces", map[string]any{"filter": map[string]any{"room_types": []any{"m.space"}}}, []string{space}},
			{"rooms without a type", map[string]any{"filter": map[string]any{"room_types": []any{nil}}}, []string{big, small}},
			{"both", map[string]any{"filter": map[string]any{"room_types": []any{nil, "m.space"}}}, []string{big, small, space}},
			{"empty room_types", map[string]any{"filter": map[string]any{"room_types": []any{}}}, []string{big, small, space}},
			{"all networks", map[string]any{"include_all_networks": true}, []string{big, small, space}},
			{"a third-party network", map[string]any{"third_party_instance_id": "irc"}, nil},
			{"limit", map[string]any{"limit": 1}, []string{big}},
		} {
			if got := post(tc.body); !slices.Equal(got, tc.want) {
				t.Errorf("POST %s = %v; want %v", tc.what, got, tc.want)
			}
		}
		if got := chunkIDs(t, anon.MustDo("GET", v3+"/publicRooms?server=chappe.test&limit=2", nil, http.StatusOK)); !slices.Equal(got, []string{big, small}) {
			t.Errorf("GET ?server=chappe.test&limit=2 = %v; want [big small]", got)
		}
		if got := chunkIDs(t, anon.MustDo("GET", v3+"/publicRooms?third_party_instance_id=irc", nil, http.StatusOK)); len(got) != 0 {
			t.Errorf("GET a third-party network = %v; want no rooms", got)
		}

		// Unpublishing and changing the join rule take effect.
		alice.MustDo("PUT", listPath(space), map[string]any{"visibility": "private"}, http.StatusOK)
		putState(t, alice, hidden, "m.room.join_rules", "", map[string]any{"join_rule": "public"})
		if got := chunkIDs(t, anon.MustDo("GET", v3+"/publicRooms", nil, http.StatusOK)); !slices.Equal(got, []string{big, small, hidden}) {
			t.Errorf("after unpublishing the space and opening hidden: %v; want [big small hidden]", got)
		}
		_ = unpublished

		for _, tc := range []struct {
			what    string
			c       *testserver.Client
			method  string
			path    string
			body    any
			status  int
			errcode string
		}{
			{"negative limit", anon, "GET", "/publicRooms?limit=-1", nil, 400, "M_INVALID_PARAM"},
			{"limit not a number", anon, "GET", "/publicRooms?limit=ten", nil, 400, "M_INVALID_PARAM"},
			{"bad since", anon, "GET", "/publicRooms?since=garbage", nil, 400, "M_INVALID_PARAM"},
			{"since not base64 of a token", anon, "GET", "/publicRooms?since=eA", nil, 400, "M_INVALID_PARAM"},
			{"another server", anon, "GET", "/publicRooms?server=elsewhere.example", nil, 403, "M_FORBIDDEN"},
			{"bad server", anon, "GET", "/publicRooms?server=" + url.QueryEscape("not a server"), nil, 400, "M_INVALID_PARAM"},
			{"GET network and all networks", anon, "GET", "/publicRooms?include_all_networks=true&third_party_instance_id=irc", nil, 400, "M_INVALID_PARAM"},
			{"POST anonymous", anon, "POST", "/publicRooms", map[string]any{}, 401, "M_MISSING_TOKEN"},
			{"POST negative limit", bob, "POST", "/publicRooms", map[string]any{"limit": -5}, 400, "M_INVALID_PARAM"},
			{"POST limit not a number", bob, "POST", "/publicRooms", map[string]any{"limit": "5"}, 400, "M_BAD_JSON"},
			{"POST filter not an object", bob, "POST", "/publicRooms", map[string]any{"filter": "x"}, 400, "M_BAD_JSON"},
			{"POST room_types not a list", bob, "POST", "/publicRooms", map[string]any{"filter": map[string]any{"room_types": "m.space"}}, 400, "M_BAD_JSON"},
			{"POST bad since", bob, "POST", "/publicRooms", map[string]any{"since": "\u0000"}, 400, "M_INVALID_PARAM"},
			{"POST network and all networks", bob, "POST", "/publicRooms", map[string]any{"include_all_networks": true, "third_party_instance_id": "irc"}, 400, "M_INVALID_PARAM"},
			{"POST not JSON", bob, "POST", "/publicRooms", "nope", 400, "M_NOT_JSON"},
		} {
			wantErr(t, tc.what, tc.c.Do(tc.method, v3+tc.path, tc.body), tc.status, tc.errcode)
		}
	})
}

// TestPublicRoomsPagination pages through the directory forwards and
// backwards while members come and go: every room is seen exactly once,
// in the order of the first page's snapshot.
func TestPublicRoomsPagination(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := dirServer(t, engine)
		alice := srv.Register(t, "alice", password)
		var users []*testserver.Client
		for i := range 4 {
			users = append(users, srv.Register(t, fmt.Sprintf("u%d", i), password))
		}
		// Seven rooms: room i has 1 + i%4 members, so counts tie.
		var rooms []string
		for i := range 7 {
			id := newRoom(t, alice, map[string]any{"preset": "public_chat", "visibility": "public", "name": fmt.Sprintf("room %d", i)})
			for _, u := range users[:i%4] {
				join(t, u, id)
			}
			rooms = append(rooms, id)
		}
		first := alice.MustDo("GET", v3+"/publicRooms", nil, http.StatusOK)
		order := chunkIDs(t, first)
		if len(order) != 7 {
			t.Fatalf("publicRooms = %v; want 7 rooms", order)
		}
		var counts []float64
		for _, id := range order {
			counts = append(counts, chunkEntry(first, id)["num_joined_members"].(float64))
		}
		if !slices.IsSortedFunc(counts, func(a, b float64) int { return int(b - a) }) {
			t.Fatalf("counts %v are not in descending order", counts)
		}

		var seen []string
		var pages []*testserver.Response
		since := ""
		for page := 0; ; page++ {
			if page > 10 {
				t.Fatal("pagination does not end")
			}
			path := v3 + "/publicRooms?limit=3"
			if since != "" {
				path += "&since=" + url.QueryEscape(since)
			}
			r := alice.MustDo("GET", path, nil, http.StatusOK)
			pages = append(pages, r)
			seen = append(seen, chunkIDs(t, r)...)
			if (page == 0) != (r.Body["prev_batch"] == nil) {
				t.Errorf("page %d: prev_batch = %v; want one on every page but the first", page, r.Body["prev_batch"])
			}
			// Membership changes between pages must not move rooms across
			// the page boundary: the last room gains members, the first
			// loses them.
			join(t, users[page%3], order[len(order)-1])
			users[page%3].MustDo("POST", dirRoomPath(order[0], "/leave"), map[string]any{}, http.StatusOK)
			since = r.String("next_batch")
			if since == "" {
				break
			}
		}
		if !slices.Equal(seen, order) {
			t.Errorf("paged forward: %v;\nwant the first page's order %v", seen, order)
		}
		if len(pages) != 3 {
			t.Errorf("7 rooms, 3 a page: %d pages; want 3", len(pages))
		}

		// Backwards from the last page gives the pages before it again.
		back := alice.MustDo("GET", v3+"/publicRooms?limit=3&since="+url.QueryEscape(pages[2].String("prev_batch")), nil, http.StatusOK)
		if got, want := chunkIDs(t, back), chunkIDs(t, pages[1]); !slices.Equal(got, want) {
			t.Errorf("prev_batch of the last page = %v; want the second page %v", got, want)
		}
		back = alice.MustDo("GET", v3+"/publicRooms?limit=3&since="+url.QueryEscape(back.String("prev_batch")), nil, http.StatusOK)
		if got, want := chunkIDs(t, back), chunkIDs(t, pages[0]); !slices.Equal(got, want) || back.Body["prev_batch"] != nil {
			t.Errorf("prev_batch twice = %v (prev %v); want the first page %v without prev_batch", got, back.Body["prev_batch"], want)
		}
		if next := back.String("next_batch"); next == "" {
			t.Error("a page reached backwards has no next_batch")
		}
		// A fresh listing sees the new counts.
		now := chunkIDs(t, alice.MustDo("GET", v3+"/publicRooms", nil, http.StatusOK))
		if now[0] == order[0] && strings.Join(now, ",") == strings.Join(order, ",") {
			t.Errorf("a new listing after membership changes kept the old order %v", now)
		}
	})
}

// BenchmarkPublicRooms measures one page of GET /publicRooms over a
// directory of 200 published rooms (SQLite): every page reads every
// published room's members and directory state.
func BenchmarkPublicRooms(b *testing.B) {
	srv := dirServerB(b)
	alice := srv.Register(b, "alice", password)
	for i := range 200 {
		alice.MustDo("POST", v3+"/createRoom", map[string]any{"preset": "public_chat", "visibility": "public",
			"name": fmt.Sprintf("room %d", i), "topic": "a topic"}, http.StatusOK)
	}
	b.ResetTimer()
	for b.Loop() {
		alice.MustDo("GET", v3+"/publicRooms?limit=20", nil, http.StatusOK)
	}
}

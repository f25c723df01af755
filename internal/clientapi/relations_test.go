package clientapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"chappe.eu/chappe/internal/testserver"
)

// Helpers of the relations, context and timestamp tests.

var relTxn atomic.Int64

// relRoom creates a room as c with the given createRoom body.
func relRoom(t *testing.T, c *testserver.Client, body map[string]any) string {
	t.Helper()
	return c.MustDo("POST", v3+"/createRoom", body, http.StatusOK).String("room_id")
}

// relSend sends an event of type typ and returns its ID.
func relSend(t *testing.T, c *testserver.Client, roomID, typ string, content map[string]any) string {
	t.Helper()
	path := fmt.Sprintf("%s/rooms/%s/send/%s/rel%d", v3, url.PathEscape(roomID), typ, relTxn.Add(1))
	return c.MustDo("PUT", path, content, http.StatusOK).String("event_id")
}

// relMsg sends an m.room.message with body and, if relType is not empty,
// an m.relates_to to parent.
func relMsg(t *testing.T, c *testserver.Client, roomID, body, relType, parent string) string {
	t.Helper()
	content := map[string]any{"msgtype": "m.text", "body": body}
	if relType != "" {
		content["m.relates_to"] = map[string]any{"rel_type": relType, "event_id": parent}
	}
	return relSend(t, c, roomID, "m.room.message", content)
}

// relEdit sends a valid replacement of parent.
func relEdit(t *testing.T, c *testserver.Client, roomID, parent, body string) string {
	t.Helper()
	return relSend(t, c, roomID, "m.room.message", map[string]any{
		"msgtype": "m.text", "body": "* " + body,
		"m.new_content": map[string]any{"msgtype": "m.text", "body": body},
		"m.relates_to":  map[string]any{"rel_type": "m.replace", "event_id": parent},
	})
}

func relState(t *testing.T, c *testserver.Client, roomID, typ string, content map[string]any) string {
	t.Helper()
	path := fmt.Sprintf("%s/rooms/%s/state/%s", v3, url.PathEscape(roomID), typ)
	return c.MustDo("PUT", path, content, http.StatusOK).String("event_id")
}

func relJoin(t *testing.T, c *testserver.Client, roomID string) {
	t.Helper()
	c.MustDo("POST", v3+"/join/"+url.PathEscape(roomID), map[string]any{}, http.StatusOK)
}

func relRedact(t *testing.T, c *testserver.Client, roomID, eventID string, want int) *testserver.Response {
	t.Helper()
	path := fmt.Sprintf("%s/rooms/%s/redact/%s/rel%d", v3, url.PathEscape(roomID), url.PathEscape(eventID), relTxn.Add(1))
	return c.MustDo("PUT", path, map[string]any{"reason": "test"}, want)
}

// relGetEvent is GET /event as c.
func relGetEvent(t *testing.T, c *testserver.Client, roomID, eventID string) map[string]any {
	t.Helper()
	return c.MustDo("GET", fmt.Sprintf("%s/rooms/%s/event/%s", v3, url.PathEscape(roomID), url.PathEscape(eventID)), nil, http.StatusOK).Body
}

// dig walks nested JSON objects by key; nil if any is missing.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// ids returns the event_id of each event in a JSON list.
func ids(v any) []string {
	list, _ := v.([]any)
	out := []string{}
	for _, e := range list {
		out = append(out, dig(e, "event_id").(string))
	}
	return out
}

func relationsPath(roomID, eventID string, rest ...string) string {
	p := "/_matrix/client/v1/rooms/" + url.PathEscape(roomID) + "/relations/" + url.PathEscape(eventID)
	for _, r := range rest {
		p += "/" + url.PathEscape(r)
	}
	return p
}

// relPaginate follows next_batch through every page of path (which
// carries its query) and returns the event IDs in order.
func relPaginate(t *testing.T, c *testserver.Client, path string) []string {
	t.Helper()
	var all []string
	next := ""
	for pages := 0; ; pages++ {
		if pages > 50 {
			t.Fatalf("%s: more than 50 pages", path)
		}
		p := path
		if next != "" {
			p += "&from=" + url.QueryEscape(next)
		}
		r := c.MustDo("GET", p, nil, http.StatusOK)
		all = append(all, ids(r.Body["chunk"])...)
		next = r.String("next_batch")
		if next == "" {
			return all
		}
	}
}

func reversed(s []string) []string {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}

// TestRelations: GET /relations with every filter, both directions and
// recursion, paginated in small pages without skipping or repeating.
func TestRelations(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := start(t, engine, nil)
		alice := srv.Register(t, "alice", password)
		bob := srv.Register(t, "bob", password)
		roomID := relRoom(t, alice, map[string]any{"preset": "public_chat"})
		relJoin(t, bob, roomID)

		root := relMsg(t, alice, roomID, "root", "", "")
		var thread []string // oldest first
		for i := range 7 {
			c := alice
			if i%2 == 1 {
				c = bob
			}
			thread = append(thread, relMsg(t, c, roomID, fmt.Sprintf("reply %d", i), "m.thread", root))
		}
		reaction := relSend(t, bob, roomID, "m.reaction", map[string]any{
			"m.relates_to": map[string]any{"rel_type": "m.annotation", "event_id": root, "key": "👍"}})
		edit := relEdit(t, alice, roomID, root, "root edited")
		// A reaction to a thread reply: related to root only through it.
		nested := relSend(t, alice, roomID, "m.reaction", map[string]any{
			"m.relates_to": map[string]any{"rel_type": "m.annotation", "event_id": thread[6], "key": "🎉"}})
		relMsg(t, alice, roomID, "unrelated", "", "")

		direct := append(slices.Clone(thread), reaction, edit) // stream order
		for _, tc := range []struct {
			name, path string
			want       []string
		}{
			{"all, backwards", relationsPath(roomID, root) + "?limit=3", reversed(direct)},
			{"all, forwards", relationsPath(roomID, root) + "?limit=2&dir=f", direct},
			{"m.thread", relationsPath(roomID, root, "m.thread") + "?limit=3", reversed(thread)},
			{"m.annotation m.reaction", relationsPath(roomID, root, "m.annotation", "m.reaction") + "?limit=1", []string{reaction}},
			{"m.annotation m.room.message", relationsPath(roomID, root, "m.annotation", "m.room.message") + "?limit=1", []string{}},
			{"recurse", relationsPath(roomID, root) + "?limit=4&recurse=true", reversed(append(slices.Clone(direct), nested))},
			// The nested reaction relates through an m.thread event, which
			// the filter excludes, so it is excluded too.
			{"recurse m.annotation", relationsPath(roomID, root, "m.annotation") + "?recurse=true", []string{reaction}},
			{"unknown rel_type", relationsPath(roomID, root, "org.example.none") + "?limit=3", []string{}},
		} {
			got := relPaginate(t, alice, tc.path)
			if !slices.Equal(got, tc.want) {
				t.Errorf("%s: relations = %v; want %v", tc.name, got, tc.want)
			}
		}

		r := alice.MustDo("GET", relationsPath(roomID, root)+"?recurse=true&limit=1", nil, http.StatusOK)
		if d, _ := r.Body["recursion_depth"].(float64); d < 3 {
			t.Errorf("recurse=true: recursion_depth = %v; want at least 3", r.Body["recursion_depth"])
		}
		r = alice.MustDo("GET", relationsPath(roomID, root)+"?limit=1", nil, http.StatusOK)
		if _, ok := r.Body["recursion_depth"]; ok {
			t.Errorf("recursion_depth without recurse: %s; want it absent", r.Raw)
		}
		if r.String("prev_batch") != "" {
			t.Errorf("first page has prev_batch: %s", r.Raw)
		}

		// from and to bound the range: from page 1's next_batch to the start.
		first := alice.MustDo("GET", relationsPath(roomID, root, "m.thread")+"?limit=2", nil, http.StatusOK)
		next := first.String("next_batch")
		r = alice.MustDo("GET", relationsPath(roomID, root, "m.thread")+"?limit=2&from="+url.QueryEscape(next), nil, http.StatusOK)
		if got := ids(r.Body["chunk"]); !slices.Equal(got, []string{thread[4], thread[3]}) || r.String("prev_batch") != next {
			t.Errorf("second page = %v, prev_batch %q; want [reply 4, reply 3], %q", got, r.String("prev_batch"), next)
		}
		// A /sync token works as from (the spec's example).
		since := alice.MustDo("GET", v3+"/sync", nil, http.StatusOK).String("next_batch")
		r = alice.MustDo("GET", relationsPath(roomID, root, "m.thread")+"?limit=1&from="+url.QueryEscape(since), nil, http.StatusOK)
		if got := ids(r.Body["chunk"]); !slices.Equal(got, []string{thread[6]}) {
			t.Errorf("from a sync token: %v; want the latest reply", got)
		}

		// Each child carries its own aggregations: the reply with a reaction
		// has none bundled (annotations are not aggregated), but it is served.
		r = alice.MustDo("GET", relationsPath(roomID, root, "m.thread")+"?limit=1", nil, http.StatusOK)
		if dig(r.Body["chunk"].([]any)[0], "content", "body") != "reply 6" {
			t.Errorf("latest reply content: %s", r.Raw)
		}
	})
}

// TestRelationsErrors: unknown events, other rooms' events, invisible
// rooms and bad parameters are 4xx with the spec's errcodes.
func TestRelationsErrors(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := start(t, engine, nil)
		alice := srv.Register(t, "alice", password)
		eve := srv.Register(t, "eve", password)
		roomID := relRoom(t, alice, map[string]any{"preset": "private_chat"})
		otherRoom := relRoom(t, alice, map[string]any{"preset": "private_chat"})
		root := relMsg(t, alice, roomID, "root", "", "")
		elsewhere := relMsg(t, alice, otherRoom, "elsewhere", "", "")
		relMsg(t, alice, roomID, "reply", "m.thread", root)

		threads := "/_matrix/client/v1/rooms/" + url.PathEscape(roomID) + "/threads"
		for _, tc := range []struct {
			c       *testserver.Client
			path    string
			status  int
			errcode string
		}{
			{alice, relationsPath(roomID, "$unknown"), 404, "M_NOT_FOUND"},
			{alice, relationsPath(roomID, "not-an-event-id"), 404, "M_NOT_FOUND"},
			{alice, relationsPath(roomID, elsewhere), 404, "M_NOT_FOUND"},
			{alice, relationsPath(roomID, root) + "?dir=x", 400, "M_INVALID_PARAM"},
			{alice, relationsPath(roomID, root) + "?limit=-1", 400, "M_INVALID_PARAM"},
			{alice, relationsPath(roomID, root) + "?limit=ten", 400, "M_INVALID_PARAM"},
			{alice, relationsPath(roomID, root) + "?from=garbage", 400, "M_INVALID_PARAM"},
			{alice, relationsPath(roomID, root) + "?to=s-5", 400, "M_INVALID_PARAM"},
			{alice, relationsPath(roomID, root) + "?recurse=yes", 400, "M_INVALID_PARAM"},
			{alice, relationsPath("!nowhere:chappe.test", root), 403, "M_FORBIDDEN"},
			{eve, relationsPath(roomID, root), 403, "M_FORBIDDEN"},
			{alice, threads + "?limit=0", 400, "M_INVALID_PARAM"},
			{alice, threads + "?include=mine", 400, "M_INVALID_PARAM"},
			{alice, threads + "?from=x", 400, "M_INVALID_PARAM"},
			{eve, threads, 403, "M_FORBIDDEN"},
		} {
			wantErr(t, "GET "+tc.path, tc.c.Do("GET", tc.path, nil), tc.status, tc.errcode)
		}
	})
}

// TestThreads: GET /threads orders threads by their latest reply,
// paginates without skipping or repeating, filters participated threads
// and bundles the thread summary.
func TestThreads(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := start(t, engine, nil)
		alice := srv.Register(t, "alice", password)
		bob := srv.Register(t, "bob", password)
		roomID := relRoom(t, alice, map[string]any{"preset": "public_chat"})
		relJoin(t, bob, roomID)

		var roots []string
		for i := range 5 {
			roots = append(roots, relMsg(t, alice, roomID, fmt.Sprintf("root %d", i), "", ""))
		}
		// Activity order (latest reply last): 1, 3 (bob), 0, 4, then 1 again.
		relMsg(t, alice, roomID, "r", "m.thread", roots[1])
		relMsg(t, bob, roomID, "r", "m.thread", roots[3])
		relMsg(t, alice, roomID, "r", "m.thread", roots[0])
		relMsg(t, alice, roomID, "r", "m.thread", roots[4])
		last := relMsg(t, alice, roomID, "last", "m.thread", roots[1])
		// A redacted reply no longer counts: root 2's only reply.
		gone := relMsg(t, alice, roomID, "r", "m.thread", roots[2])
		relRedact(t, alice, roomID, gone, http.StatusOK)

		base := "/_matrix/client/v1/rooms/" + url.PathEscape(roomID) + "/threads?limit=2"
		want := []string{roots[1], roots[4], roots[0], roots[3]}
		if got := relPaginate(t, alice, base); !slices.Equal(got, want) {
			t.Errorf("threads = %v; want %v", got, want)
		}
		if got := relPaginate(t, bob, base+"&include=participated"); !slices.Equal(got, []string{roots[3]}) {
			t.Errorf("bob's participated threads = %v; want [%s]", got, roots[3])
		}
		if got := relPaginate(t, alice, base+"&include=participated"); !slices.Equal(got, want) {
			t.Errorf("alice's participated threads (she sent every root) = %v; want %v", got, want)
		}

		r := bob.MustDo("GET", base, nil, http.StatusOK)
		summary := dig(r.Body["chunk"].([]any)[0], "unsigned", "m.relations", "m.thread")
		if dig(summary, "count") != 2.0 || dig(summary, "latest_event", "event_id") != last ||
			dig(summary, "current_user_participated") != false || dig(summary, "latest_event", "room_id") != roomID {
			t.Errorf("thread summary of root 1 for bob = %v; want count 2, latest %s, not participated", summary, last)
		}
	})
}

// TestAggregations: m.replace, m.thread and m.reference bundled on every
// endpoint that serves events, with the spec's validity rules for edits
// and the effect of redactions.
func TestAggregations(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := start(t, engine, nil)
		alice := srv.Register(t, "alice", password)
		bob := srv.Register(t, "bob", password)
		roomID := relRoom(t, alice, map[string]any{"preset": "public_chat"})
		relJoin(t, bob, roomID)

		msg := relMsg(t, alice, roomID, "original", "", "")
		edit1 := relEdit(t, alice, roomID, msg, "first edit")
		edit2 := relEdit(t, alice, roomID, msg, "second edit")
		// The spec's most recent edit: the larger origin_server_ts, and
		// of two sent in the same millisecond the larger event ID.
		latest, earlier := edit2, edit1
		ts1, ts2 := dig(relGetEvent(t, alice, roomID, edit1), "origin_server_ts"), dig(relGetEvent(t, alice, roomID, edit2), "origin_server_ts")
		if ts1 == ts2 && edit1 > edit2 {
			latest, earlier = edit1, edit2
		}
		// Not valid edits: another sender; no m.new_content; another type.
		relEdit(t, bob, roomID, msg, "bob's edit")
		relMsg(t, alice, roomID, "no new content", "m.replace", msg)
		relSend(t, alice, roomID, "org.example.other", map[string]any{"m.new_content": map[string]any{},
			"m.relates_to": map[string]any{"rel_type": "m.replace", "event_id": msg}})
		reply1 := relMsg(t, bob, roomID, "in thread", "m.thread", msg)
		reply2 := relMsg(t, alice, roomID, "in thread too", "m.thread", msg)
		replyEdit := relEdit(t, alice, roomID, reply2, "in thread, edited")
		ref := relSend(t, bob, roomID, "org.example.ref", map[string]any{
			"m.relates_to": map[string]any{"rel_type": "m.reference", "event_id": msg}})

		check := func(where string, ev any, wantEdit string) {
			t.Helper()
			if dig(ev, "content", "body") != "original" {
				t.Errorf("%s: content = %v; the original content must be kept", where, dig(ev, "content"))
			}
			rel := dig(ev, "unsigned", "m.relations")
			if got := dig(rel, "m.replace", "event_id"); got != wantEdit {
				t.Errorf("%s: m.replace = %v; want %s", where, got, wantEdit)
			}
			th := dig(rel, "m.thread")
			if dig(th, "count") != 2.0 || dig(th, "latest_event", "event_id") != reply2 || dig(th, "current_user_participated") != true {
				t.Errorf("%s: m.thread = %v; want count 2, latest %s, participated", where, th, reply2)
			}
			if got := dig(th, "latest_event", "unsigned", "m.relations", "m.replace", "event_id"); got != replyEdit {
				t.Errorf("%s: the latest thread event's own m.replace = %v; want %s", where, got, replyEdit)
			}
			if got := ids(dig(rel, "m.reference", "chunk")); !slices.Equal(got, []string{ref}) {
				t.Errorf("%s: m.reference = %v; want [%s]", where, got, ref)
			}
			if _, ok := dig(rel, "m.annotation").(map[string]any); ok {
				t.Errorf("%s: m.annotation must not be aggregated", where)
			}
		}
		check("/event", relGetEvent(t, alice, roomID, msg), latest)

		r := alice.MustDo("GET", fmt.Sprintf("%s/rooms/%s/messages?dir=b&limit=50", v3, url.PathEscape(roomID)), nil, http.StatusOK)
		for _, e := range r.Body["chunk"].([]any) {
			if dig(e, "event_id") == msg {
				check("/messages", e, latest)
			}
			if dig(e, "event_id") == reply1 && dig(e, "unsigned", "m.relations", "m.thread") != nil {
				t.Errorf("a thread reply has a thread of its own: %v", e)
			}
		}
		r = alice.MustDo("GET", fmt.Sprintf("%s/rooms/%s/context/%s?limit=2", v3, url.PathEscape(roomID), url.PathEscape(msg)), nil, http.StatusOK)
		check("/context", r.Body["event"], latest)
		r = alice.MustDo("GET", "/_matrix/client/v1/rooms/"+url.PathEscape(roomID)+"/threads", nil, http.StatusOK)
		check("/threads", r.Body["chunk"].([]any)[0], latest)
		r = alice.MustDo("GET", v3+`/sync?filter={"room":{"timeline":{"limit":50}}}`, nil, http.StatusOK)
		found := false
		for _, e := range dig(r.Body, "rooms", "join", roomID, "timeline", "events").([]any) {
			if dig(e, "event_id") == msg {
				check("/sync", e, latest)
				found = true
			}
		}
		if !found {
			t.Errorf("/sync timeline lacks %s", msg)
		}

		// Redacting the latest edit brings the one before back.
		relRedact(t, alice, roomID, latest, http.StatusOK)
		check("/event after redacting the latest edit", relGetEvent(t, alice, roomID, msg), earlier)

		// A redacted original has no m.replace, its content is gone, and it
		// says why; its thread survives.
		redaction := relRedact(t, alice, roomID, msg, http.StatusOK).String("event_id")
		ev := relGetEvent(t, bob, roomID, msg)
		if c := dig(ev, "content").(map[string]any); len(c) != 0 {
			t.Errorf("redacted content = %v; want {}", c)
		}
		if dig(ev, "unsigned", "redacted_because", "event_id") != redaction {
			t.Errorf("redacted_because = %v; want %s", dig(ev, "unsigned", "redacted_because"), redaction)
		}
		if dig(ev, "unsigned", "m.relations", "m.replace") != nil {
			t.Errorf("a redacted event carries m.replace: %v", dig(ev, "unsigned"))
		}
		if dig(ev, "unsigned", "m.relations", "m.thread", "count") != 2.0 {
			t.Errorf("a redacted root lost its thread: %v", dig(ev, "unsigned"))
		}
	})
}

// TestRelationsHistoryVisibility: children and replaced state events the
// viewer may not see are neither counted nor shown, on every endpoint.
func TestRelationsHistoryVisibility(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := start(t, engine, nil)
		alice := srv.Register(t, "alice", password)
		bob := srv.Register(t, "bob", password)
		carol := srv.Register(t, "carol", password)
		roomID := relRoom(t, alice, map[string]any{"preset": "public_chat"})
		relJoin(t, bob, roomID)

		// msg is world-readable; what follows it until carol joins is not.
		relState(t, alice, roomID, "m.room.history_visibility", map[string]any{"history_visibility": "world_readable"})
		msg := relMsg(t, alice, roomID, "public", "", "")
		relState(t, alice, roomID, "m.room.history_visibility", map[string]any{"history_visibility": "joined"})
		earlyEdit := relEdit(t, alice, roomID, msg, "edited before carol")
		earlyReply := relMsg(t, bob, roomID, "reply before carol", "m.thread", msg)
		topic1 := relState(t, alice, roomID, "m.room.topic", map[string]any{"topic": "before carol"})
		relJoin(t, carol, roomID)
		topic2 := relState(t, alice, roomID, "m.room.topic", map[string]any{"topic": "after carol"})
		lateReply := relMsg(t, alice, roomID, "reply after carol", "m.thread", msg)

		// bob saw everything.
		ev := relGetEvent(t, bob, roomID, msg)
		if dig(ev, "unsigned", "m.relations", "m.replace", "event_id") != earlyEdit ||
			dig(ev, "unsigned", "m.relations", "m.thread", "count") != 2.0 {
			t.Errorf("bob's view of msg: %v; want the edit and 2 replies", dig(ev, "unsigned"))
		}
		// carol sees msg, but not the edit nor the reply sent before she
		// joined.
		ev = relGetEvent(t, carol, roomID, msg)
		if dig(ev, "unsigned", "m.relations", "m.replace") != nil {
			t.Errorf("carol sees an edit made before she joined: %v", dig(ev, "unsigned"))
		}
		th := dig(ev, "unsigned", "m.relations", "m.thread")
		if dig(th, "count") != 1.0 || dig(th, "latest_event", "event_id") != lateReply || dig(th, "current_user_participated") != false {
			t.Errorf("carol's thread summary = %v; want count 1, latest %s", th, lateReply)
		}
		got := relPaginate(t, carol, relationsPath(roomID, msg)+"?limit=1")
		if !slices.Equal(got, []string{lateReply}) {
			t.Errorf("carol's /relations = %v; want [%s]", got, lateReply)
		}
		got = relPaginate(t, bob, relationsPath(roomID, msg)+"?limit=1")
		if !slices.Equal(got, []string{lateReply, earlyReply, earlyEdit}) {
			t.Errorf("bob's /relations = %v; want [%s %s %s]", got, lateReply, earlyReply, earlyEdit)
		}
		// An event she may not see answers 404, like an unknown one.
		wantErr(t, "carol: relations of an invisible event", carol.Do("GET", relationsPath(roomID, earlyReply), nil), 404, "M_NOT_FOUND")

		// prev_content: replaces_state always, the previous content only
		// for those who could see it.
		tp := fmt.Sprintf("%s/rooms/%s/state/m.room.topic?format=event", v3, url.PathEscape(roomID))
		for _, tc := range []struct {
			who      *testserver.Client
			wantPrev any
		}{{bob, "before carol"}, {carol, nil}} {
			e := tc.who.MustDo("GET", tp, nil, http.StatusOK).Body
			if dig(e, "event_id") != topic2 || dig(e, "unsigned", "replaces_state") != topic1 {
				t.Errorf("%s: topic event = %v; want %s replacing %s", tc.who.UserID, e, topic2, topic1)
			}
			if got := dig(e, "unsigned", "prev_content", "topic"); got != tc.wantPrev {
				t.Errorf("%s: prev_content.topic = %v; want %v", tc.who.UserID, got, tc.wantPrev)
			}
			if tc.wantPrev != nil && dig(e, "unsigned", "prev_sender") != alice.UserID {
				t.Errorf("%s: prev_sender = %v; want %s", tc.who.UserID, dig(e, "unsigned", "prev_sender"), alice.UserID)
			}
		}
		// In /sync too.
		r := carol.MustDo("GET", v3+"/sync", nil, http.StatusOK)
		var evs []any
		evs = append(evs, dig(r.Body, "rooms", "join", roomID, "state", "events").([]any)...)
		evs = append(evs, dig(r.Body, "rooms", "join", roomID, "timeline", "events").([]any)...)
		for _, e := range evs {
			if dig(e, "event_id") == topic2 && dig(e, "unsigned", "prev_content") != nil {
				t.Errorf("carol's /sync shows the topic from before she joined: %v", e)
			}
		}
	})
}

// TestRelationChecks: the server behaviour the relation types ask of
// events sent by clients.
func TestRelationChecks(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := start(t, engine, nil)
		alice := srv.Register(t, "alice", password)
		roomID := relRoom(t, alice, map[string]any{"preset": "private_chat"})
		otherRoom := relRoom(t, alice, map[string]any{"preset": "private_chat"})
		root := relMsg(t, alice, roomID, "root", "", "")
		reply := relMsg(t, alice, roomID, "reply", "m.thread", root)
		elsewhere := relMsg(t, alice, otherRoom, "elsewhere", "", "")

		send := func(typ string, content map[string]any) *testserver.Response {
			return alice.Do("PUT", fmt.Sprintf("%s/rooms/%s/send/%s/chk%d", v3, url.PathEscape(roomID), typ, relTxn.Add(1)), content)
		}
		rel := func(relType, parent string) map[string]any {
			return map[string]any{"msgtype": "m.text", "body": "x", "m.relates_to": map[string]any{"rel_type": relType, "event_id": parent}}
		}
		react := func(parent, key string) map[string]any {
			return map[string]any{"m.relates_to": map[string]any{"rel_type": "m.annotation", "event_id": parent, "key": key}}
		}
		wantErr(t, "a thread off a thread reply", send("m.room.message", rel("m.thread", reply)), 400, "M_UNKNOWN")
		wantErr(t, "a relation to an unknown event", send("m.room.message", rel("m.thread", "$nope")), 400, "M_UNKNOWN")
		wantErr(t, "a relation to another room's event", send("m.room.message", rel("m.reference", elsewhere)), 400, "M_UNKNOWN")
		wantErr(t, "an annotation without key", send("m.reaction", rel("m.annotation", root)), 400, "M_UNKNOWN")
		wantErr(t, "an overlong annotation key", send("m.reaction", react(root, strings.Repeat("k", 501))), 400, "M_UNKNOWN")

		first := send("m.reaction", react(root, "👍"))
		if first.Status != 200 {
			t.Fatalf("first reaction = %d %s", first.Status, first.Raw)
		}
		wantErr(t, "the same reaction twice", send("m.reaction", react(root, "👍")), 400, "M_DUPLICATE_ANNOTATION")
		if r := send("m.reaction", react(root, "👎")); r.Status != 200 {
			t.Errorf("another key = %d %s; want 200", r.Status, r.Raw)
		}
		relRedact(t, alice, roomID, first.String("event_id"), http.StatusOK)
		if r := send("m.reaction", react(root, "👍")); r.Status != 200 {
			t.Errorf("the reaction again after redacting it = %d %s; want 200", r.Status, r.Raw)
		}
		// Rich replies have no rel_type and are not checked; replies in a
		// thread are fine.
		if r := send("m.room.message", map[string]any{"body": "x", "m.relates_to": map[string]any{"m.in_reply_to": map[string]any{"event_id": "$whatever"}}}); r.Status != 200 {
			t.Errorf("rich reply = %d %s; want 200", r.Status, r.Raw)
		}
		if r := send("m.room.message", rel("m.thread", root)); r.Status != 200 {
			t.Errorf("second thread reply = %d %s; want 200", r.Status, r.Raw)
		}
	})
}

// TestRedactionRules: who may redact what, and redacted events served
// redacted with redacted_because.
func TestRedactionRules(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := start(t, engine, nil)
		alice := srv.Register(t, "alice", password)
		bob := srv.Register(t, "bob", password)
		eve := srv.Register(t, "eve", password)
		roomID := relRoom(t, alice, map[string]any{"preset": "public_chat"})
		otherRoom := relRoom(t, alice, map[string]any{"preset": "public_chat"})
		relJoin(t, bob, roomID)
		aliceMsg := relMsg(t, alice, roomID, "alice", "", "")
		bobMsg := relMsg(t, bob, roomID, "bob", "", "")
		bobMsg2 := relMsg(t, bob, roomID, "bob again", "", "")
		elsewhere := relMsg(t, alice, otherRoom, "elsewhere", "", "")

		var create string
		var state []map[string]any
		if err := json.Unmarshal(alice.MustDo("GET", fmt.Sprintf("%s/rooms/%s/state", v3, url.PathEscape(roomID)), nil, http.StatusOK).Raw, &state); err != nil {
			t.Fatal(err)
		}
		for _, e := range state {
			if e["type"] == "m.room.create" {
				create = e["event_id"].(string)
			}
		}

		wantErr(t, "bob redacts alice's event without the power", relRedact(t, bob, roomID, aliceMsg, 403), 403, "M_FORBIDDEN")
		relRedact(t, bob, roomID, bobMsg, http.StatusOK)    // his own
		relRedact(t, alice, roomID, bobMsg2, http.StatusOK) // with the redact level
		relRedact(t, alice, roomID, bobMsg2, http.StatusOK) // twice is harmless
		wantErr(t, "another room's event", relRedact(t, alice, roomID, elsewhere, 404), 404, "M_NOT_FOUND")
		wantErr(t, "an unknown event", relRedact(t, alice, roomID, "$unknown", 404), 404, "M_NOT_FOUND")
		wantErr(t, "the create event", relRedact(t, alice, roomID, create, 403), 403, "M_FORBIDDEN")
		// Not a member: refused by the rules before the target is looked at.
		wantErr(t, "eve, not a member, redacts an unknown event", relRedact(t, eve, roomID, "$unknown", 403), 403, "M_FORBIDDEN")
		// The /send form (room version 11 puts redacts in content).
		r := bob.Do("PUT", fmt.Sprintf("%s/rooms/%s/send/m.room.redaction/x%d", v3, url.PathEscape(roomID), relTxn.Add(1)),
			map[string]any{"redacts": aliceMsg})
		wantErr(t, "bob redacts alice's event with /send", r, 403, "M_FORBIDDEN")

		if c := dig(relGetEvent(t, alice, otherRoom, elsewhere), "content", "body"); c != "elsewhere" {
			t.Errorf("the other room's event was redacted: body = %v", c)
		}
		for _, id := range []string{bobMsg, bobMsg2} {
			ev := relGetEvent(t, bob, roomID, id)
			if c := dig(ev, "content").(map[string]any); len(c) != 0 || dig(ev, "unsigned", "redacted_because", "type") != "m.room.redaction" {
				t.Errorf("redacted %s served as %v", id, ev)
			}
		}
		if dig(relGetEvent(t, bob, roomID, aliceMsg), "content", "body") != "alice" {
			t.Errorf("alice's event was redacted by a refused redaction")
		}

		// A replaced state event that was redacted shows its redacted content
		// as prev_content.
		topic1 := relState(t, alice, roomID, "m.room.topic", map[string]any{"topic": "spam"})
		relRedact(t, alice, roomID, topic1, http.StatusOK)
		relState(t, alice, roomID, "m.room.topic", map[string]any{"topic": "fine"})
		e := bob.MustDo("GET", fmt.Sprintf("%s/rooms/%s/state/m.room.topic?format=event", v3, url.PathEscape(roomID)), nil, http.StatusOK).Body
		if prev, ok := dig(e, "unsigned", "prev_content").(map[string]any); !ok || len(prev) != 0 || dig(e, "unsigned", "replaces_state") != topic1 {
			t.Errorf("topic after a redacted one: unsigned = %v; want prev_content {} replacing %s", dig(e, "unsigned"), topic1)
		}
	})
}

// TestRelationsIgnoredUsers: children from ignored users are left out of
// aggregations, and /threads serves their thread roots redacted.
func TestRelationsIgnoredUsers(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := start(t, engine, nil)
		alice := srv.Register(t, "alice", password)
		bob := srv.Register(t, "bob", password)
		carol := srv.Register(t, "carol", password)
		roomID := relRoom(t, alice, map[string]any{"preset": "public_chat"})
		relJoin(t, bob, roomID)
		relJoin(t, carol, roomID)
		root := relMsg(t, alice, roomID, "root", "", "")
		bobReply := relMsg(t, bob, roomID, "bob", "m.thread", root)
		relMsg(t, carol, roomID, "carol", "m.thread", root)
		carolRoot := relMsg(t, carol, roomID, "carol's root", "", "")
		relMsg(t, alice, roomID, "alice", "m.thread", carolRoot)

		bob.MustDo("PUT", v3+"/user/"+url.PathEscape(bob.UserID)+"/account_data/m.ignored_user_list",
			map[string]any{"ignored_users": map[string]any{carol.UserID: map[string]any{}}}, http.StatusOK)
		th := dig(relGetEvent(t, bob, roomID, root), "unsigned", "m.relations", "m.thread")
		if dig(th, "count") != 1.0 || dig(th, "latest_event", "event_id") != bobReply {
			t.Errorf("bob, ignoring carol: thread = %v; want count 1, latest %s", th, bobReply)
		}
		th = dig(relGetEvent(t, alice, roomID, root), "unsigned", "m.relations", "m.thread")
		if dig(th, "count") != 2.0 {
			t.Errorf("alice: thread = %v; want count 2", th)
		}
		r := bob.MustDo("GET", "/_matrix/client/v1/rooms/"+url.PathEscape(roomID)+"/threads", nil, http.StatusOK)
		for _, e := range r.Body["chunk"].([]any) {
			if dig(e, "event_id") == carolRoot {
				if c := dig(e, "content").(map[string]any); len(c) != 0 {
					t.Errorf("bob sees the root of carol, whom he ignores: %v", c)
				}
				if dig(e, "unsigned", "m.relations", "m.thread", "count") != 1.0 {
					t.Errorf("the ignored root lost its thread summary: %v", e)
				}
			}
		}
		if got := ids(r.Body["chunk"]); !slices.Equal(got, []string{carolRoot, root}) {
			t.Errorf("bob's threads = %v; want [%s %s]", got, carolRoot, root)
		}
	})
}

// TestRelationsHostileInput: junk in every path and query parameter of
// the relations, threads, context and timestamp endpoints is a 4xx on
// both engines, never a 500 (PostgreSQL refuses NUL and invalid UTF-8).
func TestRelationsHostileInput(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := start(t, engine, nil)
		alice := srv.Register(t, "alice", password)
		roomID := url.PathEscape(relRoom(t, alice, map[string]any{"preset": "private_chat"}))
		root := url.PathEscape(relMsg(t, alice, relRoomID(roomID), "root", "", ""))
		v1 := "/_matrix/client/v1/rooms/"
		for _, p := range []string{strings.Repeat("A", 5000), "%00", "a%00b", "%FF", "%C0%AF", "%2F", "..", "%20", "$%00", "$%FF", "!%00:x", "!%FF:x"} {
			for _, path := range []string{
				v1 + p + "/relations/" + root, v1 + roomID + "/relations/" + p,
				v1 + roomID + "/relations/" + root + "/" + p, v1 + roomID + "/relations/" + root + "/m.thread/" + p,
				v1 + p + "/threads", v1 + p + "/timestamp_to_event?ts=0&dir=f",
				v3 + "/rooms/" + p + "/context/" + root, v3 + "/rooms/" + roomID + "/context/" + p,
				v3 + "/rooms/" + roomID + "/redact/" + p + "/t1",
			} {
				method := "GET"
				if strings.Contains(path, "/redact/") {
					method = "PUT"
				}
				r := alice.Do(method, path, map[string]any{})
				wantNo500(t, method+" "+trunc(path), r)
				// Any string is a rel_type or event type: those may match nothing.
				typeOnly := strings.HasPrefix(path, v1+roomID+"/relations/"+root+"/")
				if r.Status == http.StatusOK && !typeOnly {
					t.Errorf("%s %s = 200 %s; want a 4xx", method, trunc(path), trunc(string(r.Raw)))
				}
			}
		}
		for _, q := range []string{"%00", "a%00", "%FF", "-1", "99999999999999999999999", "1e400", "NaN", strings.Repeat("a", 5000), "s%00", "s-1", "s1_%FF"} {
			for _, path := range []string{
				v1 + roomID + "/relations/" + root + "?from=" + q, v1 + roomID + "/relations/" + root + "?to=" + q,
				v1 + roomID + "/relations/" + root + "?limit=" + q, v1 + roomID + "/relations/" + root + "?dir=" + q,
				v1 + roomID + "/relations/" + root + "?recurse=" + q,
				v1 + roomID + "/threads?from=" + q, v1 + roomID + "/threads?limit=" + q, v1 + roomID + "/threads?include=" + q,
				v1 + roomID + "/timestamp_to_event?dir=f&ts=" + q, v1 + roomID + "/timestamp_to_event?ts=0&dir=" + q,
				v3 + "/rooms/" + roomID + "/context/" + root + "?limit=" + q, v3 + "/rooms/" + roomID + "/context/" + root + "?filter=" + q,
			} {
				wantNo500(t, "GET "+trunc(path), alice.Do("GET", path, nil))
			}
		}
	})
}

func relRoomID(escaped string) string {
	id, _ := url.PathUnescape(escaped)
	return id
}

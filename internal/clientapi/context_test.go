package clientapi_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"chappe.eu/chappe/internal/testserver"
)

func contextPath(roomID, eventID, query string) string {
	return fmt.Sprintf("%s/rooms/%s/context/%s?%s", v3, url.PathEscape(roomID), url.PathEscape(eventID), query)
}

// timelineIDs returns every event of the room c may see, oldest first.
func timelineIDs(t *testing.T, c *testserver.Client, roomID string) []string {
	t.Helper()
	r := c.MustDo("GET", fmt.Sprintf("%s/rooms/%s/messages?dir=f&limit=1000", v3, url.PathEscape(roomID)), nil, http.StatusOK)
	return ids(r.Body["chunk"])
}

// messagesFrom returns the IDs of one /messages page from a token.
func messagesFrom(t *testing.T, c *testserver.Client, roomID, from, dir string, limit int) []string {
	t.Helper()
	r := c.MustDo("GET", fmt.Sprintf("%s/rooms/%s/messages?dir=%s&limit=%d&from=%s", v3, url.PathEscape(roomID), dir, limit, url.QueryEscape(from)),
		nil, http.StatusOK)
	return ids(r.Body["chunk"])
}

// stateValue returns the content key of the state event of typ in a list.
func stateValue(list any, typ, key string) any {
	for _, e := range list.([]any) {
		if dig(e, "type") == typ {
			return dig(e, "content", key)
		}
	}
	return nil
}

// TestEventContext: events before and after, tokens that continue with
// /messages without skipping or repeating, the state at the last event
// returned, filters and history visibility.
func TestEventContext(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := start(t, engine, nil)
		alice := srv.Register(t, "alice", password)
		bob := srv.Register(t, "bob", password)
		roomID := relRoom(t, alice, map[string]any{"preset": "public_chat", "topic": "one"})
		relJoin(t, bob, roomID)
		var msgs []string
		for i := range 10 {
			switch i {
			case 6:
				relState(t, alice, roomID, "m.room.topic", map[string]any{"topic": "two"})
			case 8:
				relState(t, alice, roomID, "m.room.topic", map[string]any{"topic": "three"})
			}
			msgs = append(msgs, relMsg(t, alice, roomID, fmt.Sprintf("m%d", i), "", ""))
		}
		all := timelineIDs(t, alice, roomID)
		k := slices.Index(all, msgs[4])

		r := alice.MustDo("GET", contextPath(roomID, msgs[4], "limit=5"), nil, http.StatusOK)
		before, after := ids(r.Body["events_before"]), ids(r.Body["events_after"])
		if want := []string{all[k-1], all[k-2]}; !slices.Equal(before, want) {
			t.Errorf("events_before = %v; want %v (newest first)", before, want)
		}
		if want := []string{all[k+1], all[k+2], all[k+3]}; !slices.Equal(after, want) {
			t.Errorf("events_after = %v; want %v", after, want)
		}
		if dig(r.Body, "event", "event_id") != msgs[4] || dig(r.Body, "event", "room_id") != roomID {
			t.Errorf("event = %v; want %s with its room_id", r.Body["event"], msgs[4])
		}
		// The tokens continue where the context stops, both ways.
		if got := messagesFrom(t, alice, roomID, r.String("start"), "b", 2); !slices.Equal(got, []string{all[k-3], all[k-4]}) {
			t.Errorf("/messages back from start = %v; want %v", got, []string{all[k-3], all[k-4]})
		}
		if got := messagesFrom(t, alice, roomID, r.String("end"), "f", 2); !slices.Equal(got, []string{all[k+4], all[k+5]}) {
			t.Errorf("/messages forward from end = %v; want %v", got, []string{all[k+4], all[k+5]})
		}
		// The state at the last event returned (m6, after the topic became
		// two): neither the state at m4 (one) nor the current state (three).
		if got := stateValue(r.Body["state"], "m.room.topic", "topic"); got != "two" {
			t.Errorf("state topic = %v; want the topic at the last event returned, two", got)
		}
		r = alice.MustDo("GET", contextPath(roomID, msgs[9], "limit=2"), nil, http.StatusOK)
		if got := stateValue(r.Body["state"], "m.room.topic", "topic"); got != "three" {
			t.Errorf("state topic at the end = %v; want three", got)
		}
		if len(ids(r.Body["events_after"])) != 0 || r.String("end") == "" {
			t.Errorf("context of the last event: events_after %v, end %q; want none and a token", r.Body["events_after"], r.String("end"))
		}

		// limit=0: the event alone.
		r = alice.MustDo("GET", contextPath(roomID, msgs[4], "limit=0"), nil, http.StatusOK)
		if len(ids(r.Body["events_before"]))+len(ids(r.Body["events_after"])) != 0 || dig(r.Body, "event", "event_id") != msgs[4] {
			t.Errorf("limit=0: %s", r.Raw)
		}
		// A filter applies around the event and to the state, not to the event.
		f := url.QueryEscape(`{"types":["m.room.message"],"not_senders":["` + alice.UserID + `"]}`)
		r = alice.MustDo("GET", contextPath(roomID, msgs[4], "limit=6&filter="+f), nil, http.StatusOK)
		if n := len(ids(r.Body["events_before"])) + len(ids(r.Body["events_after"])) + len(ids(r.Body["state"])); n != 0 {
			t.Errorf("filtered context has %d events; want 0: %s", n, r.Raw)
		}
		if dig(r.Body, "event", "event_id") != msgs[4] {
			t.Errorf("the filter removed the event itself")
		}
		f = url.QueryEscape(`{"lazy_load_members":true}`)
		r = alice.MustDo("GET", contextPath(roomID, msgs[4], "limit=2&filter="+f), nil, http.StatusOK)
		for _, e := range r.Body["state"].([]any) {
			if dig(e, "type") == "m.room.member" && dig(e, "state_key") != alice.UserID {
				t.Errorf("lazy-loaded state has the member event of %v, who sent nothing here", dig(e, "state_key"))
			}
		}
		if stateValue(r.Body["state"], "m.room.create", "room_version") == nil {
			t.Errorf("lazy loading removed non-member state: %s", r.Raw)
		}
	})
}

// TestEventContextVisibility: an event the user may not see is a 404, and
// the events around a visible one are filtered.
func TestEventContextVisibility(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := start(t, engine, nil)
		alice := srv.Register(t, "alice", password)
		carol := srv.Register(t, "carol", password)
		roomID := relRoom(t, alice, map[string]any{"preset": "public_chat"})
		otherRoom := relRoom(t, alice, map[string]any{"preset": "private_chat"})
		elsewhere := relMsg(t, alice, otherRoom, "elsewhere", "", "")
		relState(t, alice, roomID, "m.room.history_visibility", map[string]any{"history_visibility": "joined"})
		early := relMsg(t, alice, roomID, "before carol", "", "")
		relJoin(t, carol, roomID)
		late := relMsg(t, alice, roomID, "after carol", "", "")

		r := carol.MustDo("GET", contextPath(roomID, late, "limit=20"), nil, http.StatusOK)
		// History from before the visibility changed to joined is visible
		// (it was shared); early is not. events_before is exactly what
		// /messages shows her, newest first.
		before := ids(r.Body["events_before"])
		seen := timelineIDs(t, carol, roomID)
		if want := reversed(seen[:len(seen)-1]); !slices.Equal(before, want) || slices.Contains(before, early) {
			t.Errorf("carol's events_before = %v; want %v, without %s", before, want, early)
		}
		if dig(r.Body["events_before"].([]any)[0], "state_key") != carol.UserID {
			t.Errorf("carol's events_before does not start with her join: %s", r.Raw)
		}
		// Her view of events she could not see: 404, like an unknown event.
		for _, tc := range []struct {
			what, room, event string
			status            int
			errcode           string
		}{
			{"an event before carol joined", roomID, early, 404, "M_NOT_FOUND"},
			{"an unknown event", roomID, "$unknown", 404, "M_NOT_FOUND"},
			{"a malformed event ID", roomID, "unknown", 404, "M_NOT_FOUND"},
			{"another room's event", roomID, elsewhere, 404, "M_NOT_FOUND"},
			{"an event of a room carol is not in", otherRoom, elsewhere, 404, "M_NOT_FOUND"},
			{"an unknown room", "!nowhere:chappe.test", late, 404, "M_NOT_FOUND"},
		} {
			wantErr(t, tc.what, carol.Do("GET", contextPath(tc.room, tc.event, ""), nil), tc.status, tc.errcode)
		}
		wantErr(t, "limit=-1", alice.Do("GET", contextPath(roomID, late, "limit=-1"), nil), 400, "M_INVALID_PARAM")
		wantErr(t, "limit=x", alice.Do("GET", contextPath(roomID, late, "limit=x"), nil), 400, "M_INVALID_PARAM")
		wantErr(t, "a bad filter", alice.Do("GET", contextPath(roomID, late, "filter=%7B"), nil), 400, "M_BAD_JSON")
		// alice, joined throughout, sees it all.
		r = alice.MustDo("GET", contextPath(roomID, early, "limit=2"), nil, http.StatusOK)
		if dig(r.Body, "event", "event_id") != early {
			t.Errorf("alice's context of %s: %s", early, r.Raw)
		}
	})
}

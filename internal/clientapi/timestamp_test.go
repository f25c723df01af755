package clientapi_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// TestTimestampToEvent: the closest event in each direction, the edges of
// the room, history visibility and bad parameters.
func TestTimestampToEvent(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := start(t, engine, nil)
		alice := srv.Register(t, "alice", password)
		carol := srv.Register(t, "carol", password)
		roomID := relRoom(t, alice, map[string]any{"preset": "public_chat"})
		relState(t, alice, roomID, "m.room.history_visibility", map[string]any{"history_visibility": "joined"})
		var msgs []string
		var stamps []int64
		for i := range 3 {
			time.Sleep(5 * time.Millisecond) // distinct timestamps
			id := relMsg(t, alice, roomID, fmt.Sprintf("m%d", i), "", "")
			msgs = append(msgs, id)
			stamps = append(stamps, int64(dig(relGetEvent(t, alice, roomID, id), "origin_server_ts").(float64)))
		}
		time.Sleep(5 * time.Millisecond)
		relJoin(t, carol, roomID)
		time.Sleep(5 * time.Millisecond)
		lastMsg := relMsg(t, alice, roomID, "after carol", "", "")
		timeline := timelineIDs(t, alice, roomID)

		path := func(ts int64, dir string) string {
			return fmt.Sprintf("/_matrix/client/v1/rooms/%s/timestamp_to_event?ts=%d&dir=%s", url.PathEscape(roomID), ts, dir)
		}
		for _, tc := range []struct {
			name string
			ts   int64
			dir  string
			want string
		}{
			{"exact, forwards", stamps[1], "f", msgs[1]},
			{"exact, backwards", stamps[1], "b", msgs[1]},
			{"just after m1, forwards", stamps[1] + 1, "f", msgs[2]},
			{"just before m1, backwards", stamps[1] - 1, "b", msgs[0]},
			{"the beginning of time, forwards", 0, "f", timeline[0]},
			{"the far future, backwards", 1 << 50, "b", lastMsg},
		} {
			r := alice.MustDo("GET", path(tc.ts, tc.dir), nil, http.StatusOK)
			if r.String("event_id") != tc.want {
				t.Errorf("%s: event_id = %s; want %s", tc.name, r.String("event_id"), tc.want)
			}
			if _, ok := r.Body["origin_server_ts"].(float64); !ok {
				t.Errorf("%s: no origin_server_ts in %s", tc.name, r.Raw)
			}
		}
		wantErr(t, "nothing after the far future", alice.Do("GET", path(1<<50, "f"), nil), 404, "M_NOT_FOUND")
		wantErr(t, "nothing before the epoch", alice.Do("GET", path(0, "b"), nil), 404, "M_NOT_FOUND")

		// carol (history_visibility joined from before m0) only finds what
		// she may see: forwards from m0, her join; backwards from m2, an
		// event from before the visibility changed, never m0–m2.
		r := carol.MustDo("GET", path(stamps[0], "f"), nil, http.StatusOK)
		if e := relGetEvent(t, carol, roomID, r.String("event_id")); dig(e, "state_key") != carol.UserID {
			t.Errorf("carol's first event from m0 = %v; want her join", e)
		}
		r = carol.MustDo("GET", path(stamps[2], "b"), nil, http.StatusOK)
		if ts, _ := r.Body["origin_server_ts"].(float64); int64(ts) >= stamps[0] {
			t.Errorf("carol looks back from m2 and finds %s; want an event before m0", r.Raw)
		}
		if r := alice.MustDo("GET", path(stamps[2], "b"), nil, http.StatusOK); r.String("event_id") != msgs[2] {
			t.Errorf("alice looks back from m2 and finds %s; want m2", r.Raw)
		}

		base := "/_matrix/client/v1/rooms/" + url.PathEscape(roomID) + "/timestamp_to_event"
		for _, tc := range []struct {
			query, errcode string
			status         int
		}{
			{"?dir=f", "M_MISSING_PARAM", 400},
			{"?ts=1", "M_MISSING_PARAM", 400},
			{"?ts=soon&dir=f", "M_INVALID_PARAM", 400},
			{"?ts=1&dir=up", "M_INVALID_PARAM", 400},
		} {
			wantErr(t, "timestamp_to_event"+tc.query, alice.Do("GET", base+tc.query, nil), tc.status, tc.errcode)
		}
		eve := srv.Register(t, "eve", password)
		private := relRoom(t, alice, map[string]any{"preset": "private_chat"})
		wantErr(t, "eve, not in the room", eve.Do("GET",
			"/_matrix/client/v1/rooms/"+url.PathEscape(private)+"/timestamp_to_event?ts=0&dir=f", nil), 403, "M_FORBIDDEN")
	})
}

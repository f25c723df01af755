package e2ee_test

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"chappe.eu/chappe/internal/testserver"
)

// deviceLists returns an incremental sync's device_lists.
func deviceLists(t testing.TB, c *testserver.Client, since string) (changed, left []string, next string) {
	t.Helper()
	r := syncFrom(t, c, since)
	dl := obj(r.Body["device_lists"])
	return strs(dl["changed"]), strs(dl["left"]), r.String("next_batch")
}

// TestDeviceLists: /sync's device_lists and /keys/changes tell a user of
// the key changes of everyone they share a room with, of users who begin
// to share a room with them, and of those who share none any more (spec:
// "Tracking the device list for a user").
func TestDeviceLists(t *testing.T) {
	forEngine(t, func(t *testing.T, srv *testserver.Server) {
		alice := newDevice(srv.Register(t, "alice", "password1"))
		bob := srv.Register(t, "bob", "password1")
		carol := newDevice(srv.Register(t, "carol", "password1"))
		dave := newDevice(srv.Register(t, "dave", "password1")) // shares no room with bob
		roomID := sharedRoom(t, alice.Client, bob)

		_, _, since := deviceLists(t, bob, "")
		start := since
		alice.MustDo("POST", upload, map[string]any{"device_keys": alice.deviceKeys(t)}, 200)
		dave.MustDo("POST", upload, map[string]any{"device_keys": dave.deviceKeys(t)}, 200)
		changed, left, since := deviceLists(t, bob, since)
		if fmt.Sprint(changed, left) != fmt.Sprint([]string{alice.UserID}, []string(nil)) {
			t.Fatalf("after alice's upload: changed %v, left %v; want [alice] []", changed, left)
		}
		// Nothing new: nothing reported twice.
		if changed, left, _ := deviceLists(t, bob, since); len(changed)+len(left) != 0 {
			t.Fatalf("next sync: changed %v, left %v; want nothing", changed, left)
		}

		// A long-poll wakes when a room-mate's keys change.
		done := make(chan *testserver.Response)
		go func() { done <- bob.Do("GET", "/_matrix/client/v3/sync?timeout=10000&since="+since, nil) }()
		time.Sleep(100 * time.Millisecond)
		second := newDevice(srv.Login(t, "alice", "password1"))
		second.MustDo("POST", upload, map[string]any{"device_keys": second.deviceKeys(t)}, 200)
		select {
		case r := <-done:
			if got := strs(obj(r.Body["device_lists"])["changed"]); fmt.Sprint(got) != fmt.Sprint([]string{alice.UserID}) {
				t.Fatalf("woken sync: changed %v; want [alice]", got)
			}
			since = r.String("next_batch")
		case <-time.After(5 * time.Second):
			t.Fatal("a waiting /sync did not wake on a room-mate's new device keys")
		}

		// Someone joining is news, whatever their keys; leaving too.
		carol.MustDo("POST", "/_matrix/client/v3/join/"+esc(roomID), map[string]any{}, 200)
		changed, _, since = deviceLists(t, bob, since)
		if !slices.Contains(changed, carol.UserID) {
			t.Fatalf("after carol joined: changed %v; want carol", changed)
		}
		carol.MustDo("POST", "/_matrix/client/v3/rooms/"+esc(roomID)+"/leave", map[string]any{}, 200)
		changed, left, since = deviceLists(t, bob, since)
		if fmt.Sprint(left) != fmt.Sprint([]string{carol.UserID}) || slices.Contains(changed, carol.UserID) {
			t.Fatalf("after carol left: changed %v, left %v; want left [carol]", changed, left)
		}
		// Carol's keys no longer concern bob.
		carol.MustDo("POST", upload, map[string]any{"device_keys": carol.deviceKeys(t)}, 200)
		if changed, left, next := deviceLists(t, bob, since); len(changed)+len(left) != 0 {
			t.Fatalf("after carol's upload outside bob's rooms: changed %v, left %v; want nothing", changed, left)
		} else {
			since = next
		}

		// A signed-out device changes alice's list (waking bob's waiting
		// sync, though the logout is the client API's), and is gone from it.
		go func() { done <- bob.Do("GET", "/_matrix/client/v3/sync?timeout=10000&since="+since, nil) }()
		time.Sleep(100 * time.Millisecond)
		second.MustDo("POST", "/_matrix/client/v3/logout", map[string]any{}, 200)
		select {
		case r := <-done:
			if got := strs(obj(r.Body["device_lists"])["changed"]); fmt.Sprint(got) != fmt.Sprint([]string{alice.UserID}) {
				t.Fatalf("after alice's second device logged out: changed %v; want [alice]", got)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a waiting /sync did not wake when a room-mate's device logged out")
		}
		r := bob.MustDo("POST", query, map[string]any{"device_keys": map[string]any{alice.UserID: []string{}}}, 200)
		if got := keysOf(obj(obj(r.Body["device_keys"])[alice.UserID])); fmt.Sprint(got) != fmt.Sprint([]string{alice.DeviceID}) {
			t.Fatalf("alice's devices after logout = %v; want only %s", got, alice.DeviceID)
		}

		// /keys/changes from the first token sums it up.
		r = bob.MustDo("GET", "/_matrix/client/v3/keys/changes?from="+start+"&to="+since, nil, 200)
		if !slices.Contains(strs(r.Body["changed"]), alice.UserID) || slices.Contains(strs(r.Body["changed"]), dave.UserID) {
			t.Fatalf("keys/changes = %s; want alice changed and never dave", r.Raw)
		}
		if fmt.Sprint(strs(r.Body["left"])) != fmt.Sprint([]string{carol.UserID}) {
			t.Fatalf("keys/changes left = %v; want [carol]", strs(r.Body["left"]))
		}
		if r := bob.Do("GET", "/_matrix/client/v3/keys/changes", nil); r.Status != http.StatusBadRequest || r.Errcode() != "M_MISSING_PARAM" {
			t.Fatalf("keys/changes without from = %d %s; want 400 M_MISSING_PARAM", r.Status, r.Raw)
		}
		if r := bob.Do("GET", "/_matrix/client/v3/keys/changes?from=nonsense", nil); r.Status != http.StatusBadRequest || r.Errcode() != "M_INVALID_PARAM" {
			t.Fatalf("keys/changes with a bad token = %d %s; want 400 M_INVALID_PARAM", r.Status, r.Raw)
		}
	})
}

// TestDeviceListsOwnAndJoin: a user hears of their own new devices, and
// joining a room makes its members' lists news.
func TestDeviceListsOwnAndJoin(t *testing.T) {
	forEngine(t, func(t *testing.T, srv *testserver.Server) {
		alice := newDevice(srv.Register(t, "alice", "password1"))
		bob := newDevice(srv.Register(t, "bob", "password1"))
		bob.MustDo("POST", upload, map[string]any{"device_keys": bob.deviceKeys(t)}, 200)
		roomID := sharedRoom(t, bob.Client)
		_, _, since := deviceLists(t, alice.Client, "")

		second := newDevice(srv.Login(t, "alice", "password1"))
		second.MustDo("POST", upload, map[string]any{"device_keys": second.deviceKeys(t)}, 200)
		alice.MustDo("POST", "/_matrix/client/v3/join/"+esc(roomID), map[string]any{}, 200)
		changed, _, _ := deviceLists(t, alice.Client, since)
		if fmt.Sprint(changed) != fmt.Sprint([]string{alice.UserID, bob.UserID}) {
			t.Fatalf("changed = %v; want alice (own new device) and bob (new room-mate)", changed)
		}
		// An initial sync carries no device lists.
		if r := syncFrom(t, alice.Client, ""); len(list(obj(r.Body["device_lists"])["changed"])) != 0 {
			t.Fatalf("initial sync device_lists = %v; want none", r.Body["device_lists"])
		}
	})
}

package e2ee_test

import (
	"fmt"
	"net/http"
	"testing"

	"chappe.eu/chappe/internal/testserver"
)

const dehydrated = "/_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device"

// dehydratedBody is a PUT /dehydrated_device body for a device of user's
// named id, with its keys signed by its own key.
func dehydratedBody(t testing.TB, user, id string) map[string]any {
	d := newDevice(&testserver.Client{UserID: user, DeviceID: id})
	keys := d.deviceKeys(t)
	keys["dehydrated"] = true
	keys = sign(t, keys, user, "ed25519:"+id, d.priv)
	return map[string]any{
		"device_id": id, "initial_device_display_name": "Backup device",
		"device_data":   map[string]any{"algorithm": "org.matrix.msc3814.v1.olm", "device_pickle": "opaque"},
		"device_keys":   keys,
		"one_time_keys": d.otks(t, "D", 3, false), "fallback_keys": d.otks(t, "F", 1, true),
	}
}

// TestDehydratedDevice: a dehydrated device (MSC3814) is a device others
// can encrypt to while the user is offline; a later login reads its
// to-device messages in batches, without deleting them.
func TestDehydratedDevice(t *testing.T) {
	forEngine(t, func(t *testing.T, srv *testserver.Server) {
		alice := srv.Register(t, "alice", "password1")
		bob := srv.Register(t, "bob", "password1")
		if r := alice.Do("GET", dehydrated, nil); r.Status != 404 || r.Errcode() != "M_NOT_FOUND" {
			t.Fatalf("GET without a dehydrated device = %d %s; want 404 M_NOT_FOUND", r.Status, r.Raw)
		}
		if r := alice.MustDo("PUT", dehydrated, dehydratedBody(t, alice.UserID, "DEHYD1"), 200); r.String("device_id") != "DEHYD1" {
			t.Fatalf("PUT = %s; want device_id DEHYD1", r.Raw)
		}
		r := alice.MustDo("GET", dehydrated, nil, 200)
		if r.String("device_id") != "DEHYD1" || str(obj(r.Body["device_data"])["device_pickle"]) != "opaque" {
			t.Fatalf("GET = %s", r.Raw)
		}

		// Others see it, claim its keys and send it room keys.
		r = bob.MustDo("POST", query, map[string]any{"device_keys": map[string]any{alice.UserID: []string{}}}, 200)
		if d := obj(obj(obj(r.Body["device_keys"])[alice.UserID])["DEHYD1"]); d["dehydrated"] != true {
			t.Fatalf("query = %s; want the dehydrated device, marked so", r.Raw)
		}
		r = bob.MustDo("POST", claim, map[string]any{"one_time_keys": map[string]any{alice.UserID: map[string]string{"DEHYD1": "signed_curve25519"}}}, 200)
		if len(obj(obj(obj(r.Body["one_time_keys"])[alice.UserID])["DEHYD1"])) != 1 {
			t.Fatalf("claim of the dehydrated device's key = %s", r.Raw)
		}
		for i := range 3 {
			sendToDevice(t, bob, fmt.Sprintf("d%d", i), map[string]any{alice.UserID: map[string]any{"*": map[string]any{"n": i}}})
		}

		events := func(next string) (ns []int, nextBatch string) {
			t.Helper()
			body := map[string]any{}
			if next != "" {
				body["next_batch"] = next
			}
			r := alice.MustDo("POST", dehydrated+"/DEHYD1/events", body, 200)
			for _, e := range list(r.Body["events"]) {
				ns = append(ns, num(obj(obj(e)["content"])["n"]))
			}
			return ns, r.String("next_batch")
		}
		got, next := events("")
		if fmt.Sprint(got) != "[0 1 2]" || next == "" {
			t.Fatalf("events = %v, next_batch %q; want [0 1 2] and a token", got, next)
		}
		if got, _ := events(next); len(got) != 0 {
			t.Fatalf("events after the last batch = %v; want none", got)
		}
		if again, _ := events(""); fmt.Sprint(again) != "[0 1 2]" {
			t.Fatalf("events from the start again = %v; want [0 1 2]: batches are not deleted", again)
		}
		if r := alice.Do("POST", dehydrated+"/"+esc(alice.DeviceID)+"/events", map[string]any{}); r.Status != http.StatusForbidden {
			t.Fatalf("events of a device that is not the dehydrated one = %d %s; want 403", r.Status, r.Raw)
		}
		if r := bob.Do("POST", dehydrated+"/DEHYD1/events", map[string]any{}); r.Status != http.StatusForbidden {
			t.Fatalf("bob reading alice's dehydrated device = %d %s; want 403", r.Status, r.Raw)
		}

		// A new dehydrated device replaces the old one with its keys and
		// messages; a real device's ID cannot be taken.
		alice.MustDo("PUT", dehydrated, dehydratedBody(t, alice.UserID, "DEHYD2"), 200)
		r = bob.MustDo("POST", query, map[string]any{"device_keys": map[string]any{alice.UserID: []string{}}}, 200)
		if got := keysOf(obj(obj(r.Body["device_keys"])[alice.UserID])); fmt.Sprint(got) != "[DEHYD2]" {
			t.Fatalf("alice's devices with keys = %v; want [DEHYD2]", got)
		}
		if r := alice.Do("PUT", dehydrated, dehydratedBody(t, alice.UserID, alice.DeviceID)); r.Status != 400 {
			t.Fatalf("dehydrating under a real device's ID = %d %s; want 400", r.Status, r.Raw)
		}
		bad := dehydratedBody(t, alice.UserID, "DEHYD3")
		obj(bad["device_keys"])["device_id"] = "OTHER"
		if r := alice.Do("PUT", dehydrated, bad); r.Status != 400 {
			t.Fatalf("dehydrated device with keys of another device = %d %s; want 400", r.Status, r.Raw)
		}
		if r := alice.MustDo("GET", dehydrated, nil, 200); r.String("device_id") != "DEHYD2" {
			t.Fatalf("after refused uploads the dehydrated device = %s; want DEHYD2", r.Raw)
		}
		if r := alice.MustDo("DELETE", dehydrated, nil, 200); r.String("device_id") != "DEHYD2" {
			t.Fatalf("DELETE = %s; want DEHYD2", r.Raw)
		}
		if r := alice.Do("GET", dehydrated, nil); r.Status != 404 {
			t.Fatalf("GET after DELETE = %d %s; want 404", r.Status, r.Raw)
		}
		r = alice.MustDo("GET", "/_matrix/client/v3/devices", nil, 200)
		if n := len(list(r.Body["devices"])); n != 1 {
			t.Fatalf("alice has %d devices after deleting the dehydrated one; want 1", n)
		}
	})
}

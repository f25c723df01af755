package e2ee_test

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"chappe.eu/chappe/internal/room/signing"
	"chappe.eu/chappe/internal/testserver"
)

const (
	upload = "/_matrix/client/v3/keys/upload"
	query  = "/_matrix/client/v3/keys/query"
	claim  = "/_matrix/client/v3/keys/claim"
)

// TestKeysUploadQueryClaim: a device's keys as another user sees them,
// one-time keys handed out oldest first and once, then the fallback key,
// whose use /sync reports ("One-time and fallback keys").
func TestKeysUploadQueryClaim(t *testing.T) {
	forEngine(t, func(t *testing.T, srv *testserver.Server) {
		alice := newDevice(srv.Register(t, "alice", "password1"))
		bob := srv.Register(t, "bob", "password1")
		alice.MustDo("PUT", "/_matrix/client/v3/devices/"+esc(alice.DeviceID), map[string]any{"display_name": "Alice's phone"}, 200)

		r := alice.MustDo("POST", upload, map[string]any{
			"device_keys": alice.deviceKeys(t), "one_time_keys": alice.otks(t, "A", 2, false),
		}, 200)
		if got := num(obj(r.Body["one_time_key_counts"])["signed_curve25519"]); got != 2 {
			t.Fatalf("one_time_key_counts = %s; want signed_curve25519: 2", r.Raw)
		}
		// Keys uploaded later are claimed later.
		alice.MustDo("POST", upload, map[string]any{"one_time_keys": alice.otks(t, "B", 1, false),
			"fallback_keys": alice.otks(t, "F", 1, true)}, 200)
		s := syncFrom(t, alice.Client, "")
		if got := num(obj(s.Body["device_one_time_keys_count"])["signed_curve25519"]); got != 3 {
			t.Fatalf("sync device_one_time_keys_count = %v; want 3", s.Body["device_one_time_keys_count"])
		}
		if got := strs(s.Body["device_unused_fallback_key_types"]); fmt.Sprint(got) != "[signed_curve25519]" {
			t.Fatalf("device_unused_fallback_key_types = %v; want [signed_curve25519]", got)
		}

		r = bob.MustDo("POST", query, map[string]any{"device_keys": map[string]any{alice.UserID: []string{}}}, 200)
		dev := obj(obj(obj(r.Body["device_keys"])[alice.UserID])[alice.DeviceID])
		if dev == nil {
			t.Fatalf("keys/query has no keys for alice's device: %s", r.Raw)
		}
		if name := str(obj(dev["unsigned"])["device_display_name"]); name != "Alice's phone" {
			t.Errorf("unsigned.device_display_name = %q; want Alice's phone", name)
		}
		raw, _ := json.Marshal(dev)
		if err := signing.Verify(raw, alice.UserID, func(_ string, id signing.KeyID) (ed25519.PublicKey, bool) {
			return alice.priv.Public().(ed25519.PublicKey), id == signing.KeyID("ed25519:"+alice.DeviceID)
		}); err != nil {
			t.Errorf("queried device keys do not verify: %v", err)
		}

		var order []string
		for range 4 {
			r = bob.MustDo("POST", claim, map[string]any{"one_time_keys": map[string]any{
				alice.UserID: map[string]string{alice.DeviceID: "signed_curve25519"}}}, 200)
			keys := obj(obj(obj(r.Body["one_time_keys"])[alice.UserID])[alice.DeviceID])
			if len(keys) != 1 {
				t.Fatalf("claim = %s; want one key", r.Raw)
			}
			order = append(order, keysOf(keys)[0])
		}
		// A0 and A1 were uploaded together (either order), then B0, then
		// the fallback key.
		if fmt.Sprint(order[2:]) != "[signed_curve25519:B0 signed_curve25519:F0]" || order[0] == order[1] {
			t.Fatalf("claimed keys in order %v; want A0/A1, then B0, then the fallback F0", order)
		}
		// The fallback key is not consumed, but /sync reports it used.
		r = bob.MustDo("POST", claim, map[string]any{"one_time_keys": map[string]any{
			alice.UserID: map[string]string{alice.DeviceID: "signed_curve25519"}}}, 200)
		if keys := keysOf(obj(obj(obj(r.Body["one_time_keys"])[alice.UserID])[alice.DeviceID])); fmt.Sprint(keys) != "[signed_curve25519:F0]" {
			t.Fatalf("claim after exhaustion = %v; want the fallback key again", keys)
		}
		s = syncFrom(t, alice.Client, "")
		if got := strs(s.Body["device_unused_fallback_key_types"]); len(got) != 0 {
			t.Fatalf("device_unused_fallback_key_types after use = %v; want []", got)
		}
		// Uploading the same fallback key again does not make it fresh; a
		// new one is unused.
		alice.MustDo("POST", upload, map[string]any{"fallback_keys": alice.otks(t, "G", 1, true)}, 200)
		if got := strs(syncFrom(t, alice.Client, "").Body["device_unused_fallback_key_types"]); fmt.Sprint(got) != "[signed_curve25519]" {
			t.Fatalf("device_unused_fallback_key_types after a new fallback key = %v; want [signed_curve25519]", got)
		}

		// Unknown users and devices are left out; other servers fail.
		r = bob.MustDo("POST", claim, map[string]any{"one_time_keys": map[string]any{
			"@nobody:chappe.test": map[string]string{"X": "signed_curve25519"},
			"@someone:elsewhere":  map[string]string{"X": "signed_curve25519"},
		}}, 200)
		if len(obj(r.Body["one_time_keys"])) != 0 || obj(r.Body["failures"])["elsewhere"] == nil {
			t.Fatalf("claim of unknown users = %s; want no keys and a failure for elsewhere", r.Raw)
		}
		r = bob.MustDo("POST", query, map[string]any{"device_keys": map[string]any{"@nobody:chappe.test": []string{}}}, 200)
		if len(obj(obj(r.Body["device_keys"])["@nobody:chappe.test"])) != 0 {
			t.Fatalf("query of an unknown user = %s; want no devices", r.Raw)
		}
	})
}

// Uploads the server refuses, with the spec's errcodes.
func TestKeysUploadRefused(t *testing.T) {
	forEngine(t, func(t *testing.T, srv *testserver.Server) {
		alice := newDevice(srv.Register(t, "alice", "password1"))
		other := newDevice(srv.Register(t, "other", "password1"))

		badSig := alice.deviceKeys(t)
		badSig["algorithms"] = []string{"changed.after.signing"}
		wrongDevice := alice.deviceKeys(t)
		wrongDevice["device_id"] = "SOMEONEELSE"
		foreign := other.deviceKeys(t) // signed, but another user's device
		twoFallbacks := alice.otks(t, "F", 2, true)
		badOTK := alice.otks(t, "X", 1, false)
		obj(badOTK["signed_curve25519:X0"])["key"] = "AAAA"

		for _, tc := range []struct {
			name string
			body any
			code string
		}{
			{"signature does not verify", map[string]any{"device_keys": badSig}, "M_INVALID_SIGNATURE"},
			{"another device's ID", map[string]any{"device_keys": wrongDevice}, "M_INVALID_PARAM"},
			{"another user's keys", map[string]any{"device_keys": foreign}, "M_INVALID_PARAM"},
			{"device keys not an object", map[string]any{"device_keys": "x"}, "M_BAD_JSON"},
			{"two fallback keys of one algorithm", map[string]any{"fallback_keys": twoFallbacks}, "M_INVALID_PARAM"},
			{"one-time key without key ID", map[string]any{"one_time_keys": map[string]any{"signed_curve25519": "x"}}, "M_INVALID_PARAM"},
			{"one-time key neither object nor string", map[string]any{"one_time_keys": map[string]any{"curve25519:A": 5}}, "M_BAD_JSON"},
			{"not JSON", "{", "M_NOT_JSON"},
		} {
			r := alice.Do("POST", upload, tc.body)
			if r.Status != http.StatusBadRequest || r.Errcode() != tc.code {
				t.Errorf("%s: upload = %d %s; want 400 %s", tc.name, r.Status, r.Raw, tc.code)
			}
		}

		alice.MustDo("POST", upload, map[string]any{"device_keys": alice.deviceKeys(t), "one_time_keys": alice.otks(t, "A", 1, false)}, 200)
		// Once the device's key is known, one-time keys must carry its signature.
		if r := alice.Do("POST", upload, map[string]any{"one_time_keys": badOTK}); r.Errcode() != "M_INVALID_SIGNATURE" {
			t.Errorf("one-time key with a bad signature = %d %s; want 400 M_INVALID_SIGNATURE", r.Status, r.Raw)
		}
		// A device's identity never changes: new keys need a new device.
		if r := alice.Do("POST", upload, map[string]any{"device_keys": alice.deviceKeys(t)}); r.Errcode() != "M_INVALID_PARAM" {
			t.Errorf("changed identity keys = %d %s; want 400 M_INVALID_PARAM", r.Status, r.Raw)
		}
		// The same one-time key ID with other contents is refused; the
		// same key again is fine.
		if r := alice.Do("POST", upload, map[string]any{"one_time_keys": alice.otks(t, "A", 1, false)}); r.Errcode() != "M_INVALID_PARAM" {
			t.Errorf("reused one-time key ID = %d %s; want 400 M_INVALID_PARAM", r.Status, r.Raw)
		}
		if r := alice.Do("POST", query, map[string]any{}); r.Errcode() != "M_MISSING_PARAM" {
			t.Errorf("query without device_keys = %d %s; want 400 M_MISSING_PARAM", r.Status, r.Raw)
		}
		if r := alice.Do("POST", query, map[string]any{"device_keys": map[string]any{"not a user": []string{}}}); r.Errcode() != "M_INVALID_PARAM" {
			t.Errorf("query of an invalid user ID = %d %s; want 400 M_INVALID_PARAM", r.Status, r.Raw)
		}
		if r := srv.Client(t).Do("POST", query, map[string]any{"device_keys": map[string]any{}}); r.Errcode() != "M_MISSING_TOKEN" {
			t.Errorf("query without a token = %d %s; want 401 M_MISSING_TOKEN", r.Status, r.Raw)
		}
	})
}

// TestClaimConcurrent: many clients claiming the keys of one device at
// once get every one-time key exactly once between them, then the
// fallback key (spec: "each one-time key is returned at most once").
func TestClaimConcurrent(t *testing.T) {
	const keys, claimers = 120, 12
	forEngine(t, func(t *testing.T, srv *testserver.Server) {
		alice := newDevice(srv.Register(t, "alice", "password1"))
		second := newDevice(srv.Login(t, "alice", "password1"))
		for _, d := range []*device{alice, second} {
			d.MustDo("POST", upload, map[string]any{"device_keys": d.deviceKeys(t), "one_time_keys": d.otks(t, "K", keys, false),
				"fallback_keys": d.otks(t, "F", 1, true)}, 200)
		}
		clients := make([]*testserver.Client, claimers)
		for i := range clients {
			clients[i] = srv.Register(t, fmt.Sprintf("claimer%d", i), "password1")
		}
		var mu sync.Mutex
		got := map[string]int{}
		var wg sync.WaitGroup
		for _, c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					// Each request claims a key of both devices, in either
					// order across requests: no deadlock either.
					r := c.Do("POST", claim, map[string]any{"one_time_keys": map[string]any{
						alice.UserID: map[string]string{second.DeviceID: "signed_curve25519", alice.DeviceID: "signed_curve25519"}}})
					if r.Status != 200 {
						t.Errorf("claim = %d %s", r.Status, r.Raw)
						return
					}
					fallbacks := 0
					mu.Lock()
					for dev, ks := range obj(obj(r.Body["one_time_keys"])[alice.UserID]) {
						for id := range obj(ks) {
							if id == "signed_curve25519:F0" {
								fallbacks++
								continue
							}
							got[dev+" "+id]++
						}
					}
					mu.Unlock()
					if fallbacks == 2 {
						return
					}
				}
			}()
		}
		wg.Wait()
		if len(got) != 2*keys {
			t.Errorf("%d distinct one-time keys handed out; want %d", len(got), 2*keys)
		}
		for k, n := range got {
			if n != 1 {
				t.Errorf("key %s handed out %d times; want once", k, n)
			}
		}
	})
}

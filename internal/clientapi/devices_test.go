package clientapi_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestDevices covers "Device management": GET /devices, GET, PUT and
// DELETE /devices/{deviceId} and POST /delete_devices.
func TestDevices(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		srv := start(t, engine, nil)
		alice := srv.Register(t, "alice", password)
		phone := srv.Login(t, "alice", password)
		tablet := srv.Login(t, "alice", password)
		bob := srv.Register(t, "bob", password)

		t.Run("list", func(t *testing.T) {
			r := alice.MustDo("GET", v3+"/devices", nil, http.StatusOK)
			var ids []string
			for _, d := range r.Body["devices"].([]any) {
				ids = append(ids, d.(map[string]any)["device_id"].(string))
			}
			want := []string{alice.DeviceID, phone.DeviceID, tablet.DeviceID}
			slices.Sort(ids)
			slices.Sort(want)
			if !slices.Equal(ids, want) {
				t.Fatalf("devices = %v; want %v", ids, want)
			}
			if slices.Contains(ids, bob.DeviceID) {
				t.Fatal("alice sees bob's device")
			}
		})

		t.Run("last seen", func(t *testing.T) {
			// last_seen is written in the background after a request.
			deadline := time.Now().Add(5 * time.Second)
			for {
				r := alice.MustDo("GET", v3+"/devices/"+alice.DeviceID, nil, http.StatusOK)
				if ts, _ := r.Body["last_seen_ts"].(float64); ts > 0 && r.String("last_seen_ip") == "127.0.0.1" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("device never shows last_seen_ts and last_seen_ip: %s", r.Raw)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})

		t.Run("rename", func(t *testing.T) {
			alice.MustDo("PUT", v3+"/devices/"+phone.DeviceID, map[string]any{"display_name": "Phone"}, http.StatusOK)
			r := alice.MustDo("GET", v3+"/devices/"+phone.DeviceID, nil, http.StatusOK)
			if r.String("device_id") != phone.DeviceID || r.String("display_name") != "Phone" {
				t.Fatalf("renamed device = %s", r.Raw)
			}
			// "If not given, the display name is unchanged."
			alice.MustDo("PUT", v3+"/devices/"+phone.DeviceID, map[string]any{}, http.StatusOK)
			if r := alice.MustDo("GET", v3+"/devices/"+phone.DeviceID, nil, http.StatusOK); r.String("display_name") != "Phone" {
				t.Fatalf("display name after an empty PUT = %s", r.Raw)
			}
			wantErr(t, "too long a name", alice.Do("PUT", v3+"/devices/"+phone.DeviceID, map[string]any{"display_name": strings.Repeat("x", 5000)}),
				http.StatusBadRequest, "M_INVALID_PARAM")
			wantErr(t, "name of the wrong type", alice.Do("PUT", v3+"/devices/"+phone.DeviceID, map[string]any{"display_name": 5}),
				http.StatusBadRequest, "M_BAD_JSON")
		})

		t.Run("unknown and foreign devices", func(t *testing.T) {
			for _, id := range []string{"NOSUCHDEVICE", bob.DeviceID, strings.Repeat("D", 300), "a%2Fb", "%C3%A9"} {
				wantErr(t, "GET "+id, alice.Do("GET", v3+"/devices/"+id, nil), http.StatusNotFound, "M_NOT_FOUND")
				wantErr(t, "PUT "+id, alice.Do("PUT", v3+"/devices/"+id, map[string]any{"display_name": "mine now"}), http.StatusNotFound, "M_NOT_FOUND")
				wantErr(t, "empty PUT "+id, alice.Do("PUT", v3+"/devices/"+id, map[string]any{}), http.StatusNotFound, "M_NOT_FOUND")
			}
			if r := bob.MustDo("GET", v3+"/devices/"+bob.DeviceID, nil, http.StatusOK); r.String("display_name") == "mine now" {
				t.Fatal("alice renamed bob's device")
			}
			wantErr(t, "without token", srv.Client(t).Do("GET", v3+"/devices", nil), http.StatusUnauthorized, "M_MISSING_TOKEN")
		})

		t.Run("delete", func(t *testing.T) {
			path := v3 + "/devices/" + url.PathEscape(tablet.DeviceID)
			r := alice.Do("DELETE", path, map[string]any{})
			if r.Status != http.StatusUnauthorized || !slices.Equal(flowsOf(t, r), []string{"m.login.password"}) {
				t.Fatalf("DELETE without auth = %d %s; want the UIA challenge", r.Status, r.Raw)
			}
			wantErr(t, "DELETE with a wrong password", alice.Do("DELETE", path, map[string]any{"auth": passwordAuth(r.String("session"), alice.UserID, "nope")}),
				http.StatusUnauthorized, "M_FORBIDDEN")
			if r := withUIA(t, alice, "DELETE", path, map[string]any{}, password); r.Status != http.StatusOK {
				t.Fatalf("DELETE = %d %s", r.Status, r.Raw)
			}
			wantErr(t, "deleted device's token", tablet.Do("GET", v3+"/account/whoami", nil), http.StatusUnauthorized, "M_UNKNOWN_TOKEN")
			wantErr(t, "deleted device", alice.Do("GET", path, nil), http.StatusNotFound, "M_NOT_FOUND")

			// "The device was successfully removed, or had been removed
			// previously": deleting an unknown device (or someone else's,
			// which for alice does not exist) succeeds after UIA and
			// touches nothing.
			for _, id := range []string{tablet.DeviceID, bob.DeviceID} {
				if r := withUIA(t, alice, "DELETE", v3+"/devices/"+id, map[string]any{}, password); r.Status != http.StatusOK {
					t.Fatalf("DELETE of a device alice does not have = %d %s; want 200", r.Status, r.Raw)
				}
			}
			bob.MustDo("GET", v3+"/account/whoami", nil, http.StatusOK)
		})

		t.Run("delete_devices", func(t *testing.T) {
			extra := srv.Login(t, "alice", password)
			body := map[string]any{"devices": []string{phone.DeviceID, extra.DeviceID, "NOSUCHDEVICE", bob.DeviceID}}
			if r := withUIA(t, alice, "POST", v3+"/delete_devices", body, password); r.Status != http.StatusOK {
				t.Fatalf("delete_devices = %d %s", r.Status, r.Raw)
			}
			for _, c := range []string{phone.Token, extra.Token} {
				wantErr(t, "deleted device's token", as(alice, c).Do("GET", v3+"/account/whoami", nil), http.StatusUnauthorized, "M_UNKNOWN_TOKEN")
			}
			alice.MustDo("GET", v3+"/account/whoami", nil, http.StatusOK)
			bob.MustDo("GET", v3+"/account/whoami", nil, http.StatusOK)
			wantErr(t, "delete_devices without devices", alice.Do("POST", v3+"/delete_devices", map[string]any{}), http.StatusBadRequest, "M_MISSING_PARAM")
			wantErr(t, "delete_devices with a string", alice.Do("POST", v3+"/delete_devices", map[string]any{"devices": "all"}), http.StatusBadRequest, "M_BAD_JSON")
			wantErr(t, "delete_devices with numbers", alice.Do("POST", v3+"/delete_devices", map[string]any{"devices": []int{1}}), http.StatusBadRequest, "M_BAD_JSON")
			many := make([]string, 1001)
			for i := range many {
				many[i] = "D"
			}
			wantErr(t, "delete_devices with too many", alice.Do("POST", v3+"/delete_devices", map[string]any{"devices": many}), http.StatusBadRequest, "M_INVALID_PARAM")
		})
	})
}

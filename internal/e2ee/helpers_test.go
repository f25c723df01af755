package e2ee_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"testing"

	"chappe.eu/chappe/internal/room/signing"
	"chappe.eu/chappe/internal/testserver"
)

// A test device: a logged-in client with its own ed25519 key, which signs
// its device keys and one-time keys the way a real client does.
type device struct {
	*testserver.Client
	priv ed25519.PrivateKey
}

func newDevice(c *testserver.Client) *device {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	return &device{Client: c, priv: priv}
}

func b64(b []byte) string { return base64.RawStdEncoding.EncodeToString(b) }

func (d *device) ed25519() string { return b64(d.priv.Public().(ed25519.PublicKey)) }

// sign returns obj signed by key (as user) under keyID.
func sign(t testing.TB, obj any, user, keyID string, key ed25519.PrivateKey) map[string]any {
	t.Helper()
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := signing.Sign(raw, user, signing.KeyID(keyID), key)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(signed, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// deviceKeys returns the device's signed device keys.
func (d *device) deviceKeys(t testing.TB) map[string]any {
	curve := make([]byte, 32)
	rand.Read(curve)
	return sign(t, map[string]any{
		"user_id": d.UserID, "device_id": d.DeviceID,
		"algorithms": []string{"m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"},
		"keys":       map[string]string{"ed25519:" + d.DeviceID: d.ed25519(), "curve25519:" + d.DeviceID: b64(curve)},
	}, d.UserID, "ed25519:"+d.DeviceID, d.priv)
}

// otks returns n signed one-time keys named prefix0… (fallback ones carry
// "fallback": true).
func (d *device) otks(t testing.TB, prefix string, n int, fallback bool) map[string]any {
	out := map[string]any{}
	for i := range n {
		k := make([]byte, 32)
		rand.Read(k)
		obj := map[string]any{"key": b64(k)}
		if fallback {
			obj["fallback"] = true
		}
		out[fmt.Sprintf("signed_curve25519:%s%d", prefix, i)] = sign(t, obj, d.UserID, "ed25519:"+d.DeviceID, d.priv)
	}
	return out
}

func obj(v any) map[string]any { m, _ := v.(map[string]any); return m }
func list(v any) []any         { l, _ := v.([]any); return l }
func num(v any) int            { f, _ := v.(float64); return int(f) }
func str(v any) string         { s, _ := v.(string); return s }
func esc(s string) string      { return url.PathEscape(s) }
func keysOf(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// strs returns a JSON list of strings as a sorted Go slice.
func strs(v any) []string {
	var out []string
	for _, s := range list(v) {
		out = append(out, str(s))
	}
	slices.Sort(out)
	return out
}

// syncFrom syncs once without waiting; since "" is an initial sync.
func syncFrom(t testing.TB, c *testserver.Client, since string) *testserver.Response {
	t.Helper()
	path := "/_matrix/client/v3/sync?timeout=0"
	if since != "" {
		path += "&since=" + url.QueryEscape(since)
	}
	return c.MustDo("GET", path, nil, 200)
}

// sharedRoom creates a room of a's that the others join.
func sharedRoom(t testing.TB, a *testserver.Client, others ...*testserver.Client) string {
	t.Helper()
	r := a.MustDo("POST", "/_matrix/client/v3/createRoom", map[string]any{"preset": "public_chat"}, 200)
	roomID := r.String("room_id")
	for _, o := range others {
		o.MustDo("POST", "/_matrix/client/v3/join/"+esc(roomID), map[string]any{}, 200)
	}
	return roomID
}

// forEngine runs f against a fresh server on every engine.
func forEngine(t *testing.T, f func(t *testing.T, srv *testserver.Server)) {
	for _, engine := range testserver.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			f(t, testserver.Start(t, engine, nil))
		})
	}
}

package e2ee_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net/http"
	"slices"
	"testing"

	"chappe.eu/chappe/internal/testserver"
)

// crossKeys is a user's three cross-signing key pairs.
type crossKeys struct {
	user                      string
	master, self, userSigning ed25519.PrivateKey
}

func newCrossKeys(user string) *crossKeys {
	gen := func() ed25519.PrivateKey { _, k, _ := ed25519.GenerateKey(rand.Reader); return k }
	return &crossKeys{user: user, master: gen(), self: gen(), userSigning: gen()}
}

func pub(k ed25519.PrivateKey) string { return b64(k.Public().(ed25519.PublicKey)) }

// key returns the public key object of k for usage, signed by the master
// key unless it is the master key.
func (c *crossKeys) key(t testing.TB, k ed25519.PrivateKey, usage string) map[string]any {
	o := map[string]any{"user_id": c.user, "usage": []string{usage}, "keys": map[string]string{"ed25519:" + pub(k): pub(k)}}
	if usage == "master" {
		return o
	}
	return sign(t, o, c.user, "ed25519:"+pub(c.master), c.master)
}

func (c *crossKeys) upload(t testing.TB) map[string]any {
	return map[string]any{"master_key": c.key(t, c.master, "master"), "self_signing_key": c.key(t, c.self, "self_signing"),
		"user_signing_key": c.key(t, c.userSigning, "user_signing")}
}

const (
	deviceSigning = "/_matrix/client/v3/keys/device_signing/upload"
	sigUpload     = "/_matrix/client/v3/keys/signatures/upload"
)

// TestCrossSigningUpload: the first upload needs no user-interactive
// authentication, nor does the same upload again; replacing keys does
// (spec v1.11, MSC3967). Keys are checked.
func TestCrossSigningUpload(t *testing.T) {
	forEngine(t, func(t *testing.T, srv *testserver.Server) {
		alice := newDevice(srv.Register(t, "alice", "password1"))
		ck := newCrossKeys(alice.UserID)

		notSigned := ck.upload(t)
		notSigned["self_signing_key"] = map[string]any{"user_id": alice.UserID, "usage": []string{"self_signing"},
			"keys": map[string]string{"ed25519:" + pub(ck.self): pub(ck.self)}}
		wrongUsage := ck.upload(t)
		obj(wrongUsage["master_key"])["usage"] = []string{"self_signing"}
		mismatch := ck.upload(t)
		obj(mismatch["master_key"])["keys"] = map[string]string{"ed25519:abc": pub(ck.master)}
		for _, tc := range []struct {
			name   string
			body   any
			status int
			code   string
		}{
			{"self-signing key not signed by the master key", notSigned, 400, "M_INVALID_SIGNATURE"},
			{"master key without usage master", wrongUsage, 400, "M_INVALID_PARAM"},
			{"key name is not the key", mismatch, 400, "M_INVALID_PARAM"},
			{"no master key", map[string]any{"self_signing_key": ck.key(t, ck.self, "self_signing")}, 400, "M_MISSING_PARAM"},
		} {
			if r := alice.Do("POST", deviceSigning, tc.body); r.Status != tc.status || r.Errcode() != tc.code {
				t.Errorf("%s: upload = %d %s; want %d %s", tc.name, r.Status, r.Raw, tc.status, tc.code)
			}
		}

		alice.MustDo("POST", deviceSigning, ck.upload(t), 200)
		alice.MustDo("POST", deviceSigning, ck.upload(t), 200) // the same keys: a retry

		replaced := newCrossKeys(alice.UserID)
		r := alice.MustDo("POST", deviceSigning, replaced.upload(t), 401)
		session := r.String("session")
		if session == "" || fmt.Sprint(r.Body["flows"]) != "[map[stages:[m.login.password]]]" {
			t.Fatalf("replacing keys = %s; want a password challenge", r.Raw)
		}
		body := replaced.upload(t)
		body["auth"] = map[string]any{"type": "m.login.password", "session": session, "password": "password1",
			"identifier": map[string]string{"type": "m.id.user", "user": alice.UserID}}
		alice.MustDo("POST", deviceSigning, body, 200)

		r = alice.MustDo("POST", query, map[string]any{"device_keys": map[string]any{alice.UserID: []string{}}}, 200)
		if got := keysOf(obj(obj(obj(r.Body["master_keys"])[alice.UserID])["keys"])); fmt.Sprint(got) != fmt.Sprint([]string{"ed25519:" + pub(replaced.master)}) {
			t.Fatalf("master key after replacement = %v; want the new one", got)
		}
		if obj(r.Body["user_signing_keys"])[alice.UserID] == nil || obj(r.Body["self_signing_keys"])[alice.UserID] == nil {
			t.Fatalf("own query lacks the self- or user-signing key: %s", r.Raw)
		}

		// A key whose public key is a device ID is refused.
		clash := newDevice(srv.Register(t, "clash", "password1"))
		ckc := newCrossKeys(clash.UserID)
		clash.Client.MustDo("POST", "/_matrix/client/v3/logout", map[string]any{}, 200)
		other := srv.Client(t)
		lr := other.MustDo("POST", "/_matrix/client/v3/login", map[string]any{"type": "m.login.password", "device_id": pub(ckc.master),
			"identifier": map[string]string{"type": "m.id.user", "user": "clash"}, "password": "password1"}, 200)
		other.Token, other.UserID = lr.String("access_token"), lr.String("user_id")
		if r := other.Do("POST", deviceSigning, ckc.upload(t)); r.Status != http.StatusForbidden || r.Errcode() != "M_FORBIDDEN" {
			t.Errorf("master key named like a device = %d %s; want 403 M_FORBIDDEN", r.Status, r.Raw)
		}
	})
}

// TestSignatures: a user's self-signing key signs their devices, a device
// signs their master key, their user-signing key signs other users'
// master keys; each signature is checked and failures are reported per
// key. Signatures of other users' keys are shown only to their signer.
func TestSignatures(t *testing.T) {
	forEngine(t, func(t *testing.T, srv *testserver.Server) {
		alice := newDevice(srv.Register(t, "alice", "password1"))
		bob := newDevice(srv.Register(t, "bob", "password1"))
		carol := srv.Register(t, "carol", "password1")
		sharedRoom(t, alice.Client, bob.Client, carol)
		ak, bk := newCrossKeys(alice.UserID), newCrossKeys(bob.UserID)
		aliceKeys := alice.deviceKeys(t)
		alice.MustDo("POST", upload, map[string]any{"device_keys": aliceKeys}, 200)
		alice.MustDo("POST", deviceSigning, ak.upload(t), 200)
		bob.MustDo("POST", deviceSigning, bk.upload(t), 200)
		_, _, bobSince := deviceLists(t, bob.Client, "")
		_, _, carolSince := deviceLists(t, carol, "")

		delete(aliceKeys, "signatures")
		signedDevice := sign(t, aliceKeys, alice.UserID, "ed25519:"+pub(ak.self), ak.self)
		signedMaster := sign(t, ak.key(t, ak.master, "master"), alice.UserID, "ed25519:"+alice.DeviceID, alice.priv)
		signedBob := sign(t, bk.key(t, bk.master, "master"), alice.UserID, "ed25519:"+pub(ak.userSigning), ak.userSigning)
		forged := sign(t, bk.key(t, bk.master, "master"), alice.UserID, "ed25519:"+pub(ak.userSigning), ak.self) // wrong key
		altered := sign(t, aliceKeys, alice.UserID, "ed25519:"+pub(ak.self), ak.self)
		altered["algorithms"] = []string{"other"}

		r := alice.MustDo("POST", sigUpload, map[string]any{
			alice.UserID: map[string]any{alice.DeviceID: signedDevice, pub(ak.master): signedMaster},
			bob.UserID:   map[string]any{pub(bk.master): signedBob},
		}, 200)
		if len(obj(r.Body["failures"])) != 0 {
			t.Fatalf("valid signatures failed: %s", r.Raw)
		}
		r = alice.MustDo("POST", sigUpload, map[string]any{
			alice.UserID: map[string]any{alice.DeviceID: altered, "NOSUCHKEY": signedDevice},
			bob.UserID:   map[string]any{pub(bk.master): forged},
		}, 200)
		f := obj(r.Body["failures"])
		if str(obj(obj(f[bob.UserID])[pub(bk.master)])["errcode"]) != "M_INVALID_SIGNATURE" ||
			str(obj(obj(f[alice.UserID])[alice.DeviceID])["errcode"]) != "M_INVALID_PARAM" ||
			str(obj(obj(f[alice.UserID])["NOSUCHKEY"])["errcode"]) != "M_NOT_FOUND" {
			t.Fatalf("failures = %s; want M_INVALID_SIGNATURE for the forgery, M_INVALID_PARAM for the altered keys, M_NOT_FOUND for the unknown key", r.Raw)
		}

		sigsOf := func(v any) []string { return keysOf(obj(obj(obj(v)["signatures"])[alice.UserID])) }
		for _, viewer := range []*testserver.Client{bob.Client, carol} {
			r = viewer.MustDo("POST", query, map[string]any{"device_keys": map[string]any{alice.UserID: []string{}, bob.UserID: []string{}}}, 200)
			dev := obj(obj(r.Body["device_keys"])[alice.UserID])[alice.DeviceID]
			if !slices.Contains(sigsOf(dev), "ed25519:"+pub(ak.self)) {
				t.Errorf("alice's device keys lack her self-signing signature: %v", sigsOf(dev))
			}
			if !slices.Contains(sigsOf(obj(r.Body["master_keys"])[alice.UserID]), "ed25519:"+alice.DeviceID) {
				t.Errorf("alice's master key lacks her device's signature")
			}
			if len(sigsOf(obj(r.Body["master_keys"])[bob.UserID])) != 0 {
				t.Errorf("alice's signature of bob's master key is visible to %s", viewer.UserID)
			}
			if obj(r.Body["user_signing_keys"])[alice.UserID] != nil {
				t.Errorf("%s sees alice's user-signing key", viewer.UserID)
			}
		}
		r = alice.MustDo("POST", query, map[string]any{"device_keys": map[string]any{bob.UserID: []string{}}}, 200)
		if !slices.Contains(sigsOf(obj(r.Body["master_keys"])[bob.UserID]), "ed25519:"+pub(ak.userSigning)) {
			t.Errorf("alice does not see her signature of bob's master key: %s", r.Raw)
		}

		// Alice's own signatures change her list for everyone; her view of
		// bob changes only for her.
		if changed, _, _ := deviceLists(t, carol, carolSince); fmt.Sprint(changed) != fmt.Sprint([]string{alice.UserID}) {
			t.Errorf("carol's changed = %v; want [alice]", changed)
		}
		if changed, _, _ := deviceLists(t, bob.Client, bobSince); fmt.Sprint(changed) != fmt.Sprint([]string{alice.UserID}) {
			t.Errorf("bob's changed = %v; want [alice] (not himself)", changed)
		}
	})
}

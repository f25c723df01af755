//go:build goolm

package e2ee_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto/backup"
	"maunium.net/go/mautrix/crypto/goolm/account"
	"maunium.net/go/mautrix/crypto/signatures"
	"maunium.net/go/mautrix/id"

	"chappe.eu/chappe/internal/testserver"
)

// TestMautrixMegolm: two users on separate devices exchange Megolm
// messages in both directions, keys going through /keys/query,
// /keys/claim and to-device messages.
func TestMautrixMegolm(t *testing.T) {
	forEngine(t, func(t *testing.T, srv *testserver.Server) {
		alice := newClient(t, srv, srv.Register(t, "alice", "password1"))
		bob := newClient(t, srv, srv.Register(t, "bob", "password1"))
		roomID := privateRoom(t, alice, bob)

		ev := alice.send(roomID, "hello bob")
		bob.expect(ev, "hello bob")
		ev = bob.send(roomID, "hello alice")
		alice.expect(ev, "hello alice")
		// The sessions are established: more messages need no new keys.
		for i := range 3 {
			ev = alice.send(roomID, fmt.Sprintf("message %d", i))
			bob.expect(ev, fmt.Sprintf("message %d", i))
		}
	})
}

// TestMautrixKeyBackup: a user's second device, logged in later, decrypts
// the room's history with keys from the server-side backup.
func TestMautrixKeyBackup(t *testing.T) {
	forEngine(t, func(t *testing.T, srv *testserver.Server) {
		ctx := context.Background()
		alice := newClient(t, srv, srv.Register(t, "alice", "password1"))
		bob := newClient(t, srv, srv.Register(t, "bob", "password1"))
		roomID := privateRoom(t, alice, bob)
		ev1 := bob.send(roomID, "before you came")
		ev2 := alice.send(roomID, "my own words")
		alice.expect(ev1, "before you came")

		// Alice backs up every session her device has for the room.
		key, err := backup.NewMegolmBackupKey()
		if err != nil {
			t.Fatal(err)
		}
		auth := backup.MegolmAuthData{PublicKey: id.Ed25519(b64(key.PublicKey().Bytes()))}
		sig, err := alice.mach.GetAccount().SignJSON(auth)
		if err != nil {
			t.Fatal(err)
		}
		auth.Signatures = signatures.NewSingleSignature(alice.cli.UserID, id.KeyAlgorithmEd25519, alice.cli.DeviceID.String(), sig)
		v, err := alice.cli.CreateKeyBackupVersion(ctx, &mautrix.ReqRoomKeysVersionCreate[backup.MegolmAuthData]{
			Algorithm: id.KeyBackupAlgorithmMegolmBackupV1, AuthData: auth})
		if err != nil {
			t.Fatal(err)
		}
		exported := 0
		for _, evID := range []id.EventID{ev1, ev2} {
			evt, err := alice.cli.GetEvent(ctx, roomID, evID)
			if err != nil {
				t.Fatal(err)
			}
			_ = evt.Content.ParseRaw(evt.Type)
			sessionID := evt.Content.AsEncrypted().SessionID
			igs, err := alice.mach.CryptoStore.GetGroupSession(ctx, roomID, sessionID)
			if err != nil || igs == nil {
				t.Fatalf("alice has no session %s: %v", sessionID, err)
			}
			sessionKey, err := igs.Internal.Export(igs.Internal.FirstKnownIndex())
			if err != nil {
				t.Fatal(err)
			}
			enc, err := backup.EncryptSessionData(key, backup.MegolmSessionData{
				Algorithm: id.AlgorithmMegolmV1, ForwardingKeyChain: []string{},
				SenderClaimedKeys: backup.SenderClaimedKeys{Ed25519: igs.SigningKey}, SenderKey: igs.SenderKey, SessionKey: string(sessionKey),
			})
			if err != nil {
				t.Fatal(err)
			}
			data, _ := json.Marshal(enc)
			if _, err := alice.cli.PutKeysInBackupForRoomAndSession(ctx, v.Version, roomID, sessionID, &mautrix.ReqKeyBackupData{
				FirstMessageIndex: int(igs.Internal.FirstKnownIndex()), IsVerified: true, SessionData: data}); err != nil {
				t.Fatal(err)
			}
			exported++
		}

		// A second device: the history is there but undecryptable, until
		// it restores the backup.
		second := newClient(t, srv, srv.Login(t, "alice", "password1"))
		second.sync()
		if _, ok := second.body(ev1); ok {
			t.Fatal("the new device decrypted history without keys")
		}
		if got, err := second.mach.DownloadAndStoreLatestKeyBackup(ctx, key); err != nil || got != v.Version {
			t.Fatalf("restoring the backup: version %q, %v; want %q", got, err, v.Version)
		}
		second.retryFailed()
		for evID, want := range map[id.EventID]string{ev1: "before you came", ev2: "my own words"} {
			if got, ok := second.body(evID); !ok || got != want {
				t.Errorf("second device reads %s as %q (%v); want %q", evID, got, ok, want)
			}
		}
	})
}

// TestMautrixCrossSigning: both users bootstrap cross-signing (keys,
// their own master key signed by their device, their device signed by
// their self-signing key); alice verifies bob by signing his master key.
// A new device of alice's, given her cross-signing keys, finds bob's
// device cross-signed and verified from what the server serves.
func TestMautrixCrossSigning(t *testing.T) {
	forEngine(t, func(t *testing.T, srv *testserver.Server) {
		ctx := context.Background()
		alice := newClient(t, srv, srv.Register(t, "alice", "password1"))
		bob := newClient(t, srv, srv.Register(t, "bob", "password1"))
		privateRoom(t, alice, bob)
		for _, c := range []*e2eClient{alice, bob} {
			keys, err := c.mach.GenerateCrossSigningKeys()
			if err != nil {
				t.Fatal(err)
			}
			uia := func(resp *mautrix.RespUserInteractive) any {
				return &mautrix.ReqUIAuthLogin{BaseAuthData: mautrix.BaseAuthData{Type: mautrix.AuthTypePassword, Session: resp.Session},
					User: c.cli.UserID.String(), Password: "password1"}
			}
			if err := c.mach.PublishCrossSigningKeys(ctx, keys, uia); err != nil {
				t.Fatalf("%s: publishing cross-signing keys: %v", c.cli.UserID, err)
			}
			if err := c.mach.SignOwnMasterKey(ctx); err != nil {
				t.Fatalf("%s: signing own master key: %v", c.cli.UserID, err)
			}
			if err := c.mach.SignOwnDevice(ctx, c.mach.OwnIdentity()); err != nil {
				t.Fatalf("%s: signing own device: %v", c.cli.UserID, err)
			}
		}
		if _, err := alice.mach.FetchKeys(ctx, []id.UserID{bob.cli.UserID}, true); err != nil {
			t.Fatal(err)
		}
		bobKeys, err := alice.mach.GetCrossSigningPublicKeys(ctx, bob.cli.UserID)
		if err != nil || bobKeys == nil {
			t.Fatalf("alice does not have bob's cross-signing keys: %v", err)
		}
		if err := alice.mach.SignUser(ctx, bob.cli.UserID, bobKeys.MasterKey); err != nil {
			t.Fatalf("alice signing bob's master key: %v", err)
		}

		// Bob hears of alice's keys through device_lists and trusts her
		// device on first use.
		bob.sync()
		if _, err := bob.mach.FetchKeys(ctx, []id.UserID{alice.cli.UserID}, true); err != nil {
			t.Fatal(err)
		}
		aliceDev, err := bob.mach.GetOrFetchDevice(ctx, alice.cli.UserID, alice.cli.DeviceID)
		if err != nil {
			t.Fatal(err)
		}
		if trust, _ := bob.mach.ResolveTrustContext(ctx, aliceDev); trust != id.TrustStateCrossSignedTOFU {
			t.Errorf("bob's trust in alice's device = %s; want cross-signed (TOFU)", trust)
		}

		// Everything below comes from the server.
		second := newClient(t, srv, srv.Login(t, "alice", "password1"))
		if err := second.mach.ImportCrossSigningKeys(alice.mach.ExportCrossSigningKeys()); err != nil {
			t.Fatal(err)
		}
		if _, err := second.mach.FetchKeys(ctx, []id.UserID{alice.cli.UserID, bob.cli.UserID}, true); err != nil {
			t.Fatal(err)
		}
		if trusted, err := second.mach.IsUserTrusted(ctx, bob.cli.UserID); err != nil || !trusted {
			t.Errorf("alice's new device trusts bob = %v, %v; want true", trusted, err)
		}
		bobDev, err := second.mach.GetOrFetchDevice(ctx, bob.cli.UserID, bob.cli.DeviceID)
		if err != nil {
			t.Fatal(err)
		}
		if trust, _ := second.mach.ResolveTrustContext(ctx, bobDev); trust != id.TrustStateCrossSignedVerified {
			t.Errorf("alice's trust in bob's device = %s; want cross-signed and verified", trust)
		}
		// Replacing the keys needs the password.
		keys, _ := alice.mach.GenerateCrossSigningKeys()
		asked := false
		err = alice.mach.PublishCrossSigningKeys(ctx, keys, func(resp *mautrix.RespUserInteractive) any {
			asked = true
			return &mautrix.ReqUIAuthLogin{BaseAuthData: mautrix.BaseAuthData{Type: mautrix.AuthTypePassword, Session: resp.Session},
				User: alice.cli.UserID.String(), Password: "wrong password"}
		})
		if err == nil || !asked {
			t.Errorf("replacing cross-signing keys with a wrong password: asked %v, err %v; want a challenge and a refusal", asked, err)
		}
	})
}

// TestMautrixFallbackKey: a device whose one-time keys are all claimed is
// still reached through its fallback key, and learns from /sync that the
// fallback key was used.
func TestMautrixFallbackKey(t *testing.T) {
	forEngine(t, func(t *testing.T, srv *testserver.Server) {
		ctx := context.Background()
		alice := newClient(t, srv, srv.Register(t, "alice", "password1"))
		bob := newClient(t, srv, srv.Register(t, "bob", "password1"))
		roomID := privateRoom(t, alice, bob)

		// Bob's device uploads a fallback key, signed as the library signs
		// one-time keys (mautrix does not manage fallback keys itself).
		acc := bob.mach.GetAccount()
		internal := acc.Internal.(*account.Account)
		if err := internal.GenFallbackKey(); err != nil {
			t.Fatal(err)
		}
		fallbacks := map[string]any{}
		var fallbackID string
		for keyID, pub := range internal.FallbackKeyUnpublished() {
			k := mautrix.OneTimeKey{Key: pub, Fallback: true, IsSigned: true}
			sig, err := acc.SignJSON(&k)
			if err != nil {
				t.Fatal(err)
			}
			k.Signatures = signatures.NewSingleSignature(bob.cli.UserID, id.KeyAlgorithmEd25519, bob.cli.DeviceID.String(), sig)
			fallbackID = "signed_curve25519:" + keyID
			fallbacks[fallbackID] = &k
		}
		internal.MarkKeysAsPublished()
		if _, err := bob.cli.MakeRequest(ctx, "POST", bob.cli.BuildClientURL("v3", "keys", "upload"),
			map[string]any{"fallback_keys": fallbacks}, nil); err != nil {
			t.Fatal(err)
		}

		// Someone claims every one-time key of bob's device.
		carol := srv.Register(t, "carol", "password1")
		claims := 0
		for {
			r := carol.MustDo("POST", claim, map[string]any{"one_time_keys": map[string]any{
				bob.cli.UserID.String(): map[string]string{bob.cli.DeviceID.String(): "signed_curve25519"}}}, 200)
			got := keysOf(obj(obj(obj(r.Body["one_time_keys"])[bob.cli.UserID.String()])[bob.cli.DeviceID.String()]))
			if len(got) != 1 {
				t.Fatalf("claim = %s", r.Raw)
			}
			if got[0] == fallbackID {
				break
			}
			if claims++; claims > 200 {
				t.Fatal("the one-time keys never ran out")
			}
		}
		if claims == 0 {
			t.Fatal("bob's device had no one-time keys to exhaust")
		}

		ev := alice.send(roomID, "through the fallback key")
		resp := bob.sync()
		if len(resp.FallbackKeys) != 0 {
			t.Errorf("device_unused_fallback_key_types = %v after use; want []", resp.FallbackKeys)
		}
		bob.expect(ev, "through the fallback key")
	})
}

// TestMautrixConcurrentClaims: a real device's one-time keys, claimed by
// many clients at once, are each handed out once.
func TestMautrixConcurrentClaims(t *testing.T) {
	forEngine(t, func(t *testing.T, srv *testserver.Server) {
		ctx := context.Background()
		bob := newClient(t, srv, srv.Register(t, "bob", "password1"))
		counts, err := bob.cli.UploadKeys(ctx, &mautrix.ReqUploadKeys{})
		if err != nil || counts.OneTimeKeyCounts.SignedCurve25519 == 0 {
			t.Fatalf("bob's device has %v one-time keys (%v)", counts, err)
		}
		total := counts.OneTimeKeyCounts.SignedCurve25519
		var mu sync.Mutex
		seen := map[id.KeyID]int{}
		var wg sync.WaitGroup
		for i := range 10 {
			c := newClient(t, srv, srv.Register(t, fmt.Sprintf("claimer%d", i), "password1"))
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range total {
					resp, err := c.cli.ClaimKeys(ctx, &mautrix.ReqClaimKeys{OneTimeKeys: mautrix.OneTimeKeysRequest{
						bob.cli.UserID: {bob.cli.DeviceID: id.KeyAlgorithmSignedCurve25519}}})
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					for keyID, k := range resp.OneTimeKeys[bob.cli.UserID][bob.cli.DeviceID] {
						if ok, err := signatures.VerifySignatureJSON(k.RawData, bob.cli.UserID, bob.cli.DeviceID.String(), bob.mach.OwnIdentity().SigningKey); !ok || err != nil {
							t.Errorf("claimed key %s does not carry bob's device signature: %v", keyID, err)
						}
						seen[keyID]++
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(seen) != total {
			t.Errorf("%d distinct keys claimed; want all %d", len(seen), total)
		}
		for k, n := range seen {
			if n != 1 {
				t.Errorf("key %s handed out %d times", k, n)
			}
		}
	})
}

// TestMautrixToDeviceRestart: room keys sent as to-device messages while
// the recipient is away survive a server restart.
func TestMautrixToDeviceRestart(t *testing.T) {
	for _, engine := range testserver.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			srv := testserver.Start(t, engine, nil)
			alice := newClient(t, srv, srv.Register(t, "alice", "password1"))
			bob := newClient(t, srv, srv.Register(t, "bob", "password1"))
			roomID := privateRoom(t, alice, bob)
			ev := alice.send(roomID, "sent before the restart")

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			srv = testserver.StartConfig(t, srv.Config)
			bob.pointAt(srv)
			bob.expect(ev, "sent before the restart")
		})
	}
}

// TestMautrixSignedOutDevice: a device that signs out disappears from the
// device list another user's client keeps, and new messages are not
// encrypted for it.
func TestMautrixSignedOutDevice(t *testing.T) {
	forEngine(t, func(t *testing.T, srv *testserver.Server) {
		ctx := context.Background()
		alice := newClient(t, srv, srv.Register(t, "alice", "password1"))
		alice2 := newClient(t, srv, srv.Login(t, "alice", "password1"))
		bob := newClient(t, srv, srv.Register(t, "bob", "password1"))
		roomID := privateRoom(t, alice, bob)
		alice2.sync()
		ev := bob.send(roomID, "to both of alice's devices")
		alice2.expect(ev, "to both of alice's devices")
		devices, err := bob.mach.CryptoStore.GetDevices(ctx, alice.cli.UserID)
		if err != nil || len(devices) != 2 {
			t.Fatalf("bob tracks %d devices of alice (%v); want 2", len(devices), err)
		}

		if _, err := alice2.cli.Logout(ctx); err != nil {
			t.Fatal(err)
		}
		resp := bob.sync()
		if fmt.Sprint(resp.DeviceLists.Changed) != fmt.Sprint([]id.UserID{alice.cli.UserID}) {
			t.Fatalf("bob's device_lists.changed = %v; want [alice]", resp.DeviceLists.Changed)
		}
		devices, err = bob.mach.CryptoStore.GetDevices(ctx, alice.cli.UserID)
		if err != nil || len(devices) != 1 || devices[alice.cli.DeviceID] == nil {
			t.Fatalf("after the logout bob tracks %v (%v); want only %s", devices, err, alice.cli.DeviceID)
		}
		ev = bob.send(roomID, "to alice's remaining device")
		alice.expect(ev, "to alice's remaining device")
	})
}

// TestMautrixSecretStorage: cross-signing set up with secret storage
// (keys encrypted in account data) and no password, since the first
// upload needs none; a second device restores the keys from secret
// storage with the recovery key and cross-signs itself, which the first
// device then sees.
func TestMautrixSecretStorage(t *testing.T) {
	forEngine(t, func(t *testing.T, srv *testserver.Server) {
		ctx := context.Background()
		alice := newClient(t, srv, srv.Register(t, "alice", "password1"))
		recoveryKey, err := alice.mach.GenerateAndVerifyWithRecoveryKey(ctx)
		if err != nil {
			t.Fatalf("bootstrapping cross-signing and secret storage: %v", err)
		}
		second := newClient(t, srv, srv.Login(t, "alice", "password1"))
		if err := second.mach.VerifyWithRecoveryKey(ctx, recoveryKey); err != nil {
			t.Fatalf("restoring from secret storage: %v", err)
		}
		if _, err := alice.mach.FetchKeys(ctx, []id.UserID{alice.cli.UserID}, true); err != nil {
			t.Fatal(err)
		}
		dev, err := alice.mach.GetOrFetchDevice(ctx, alice.cli.UserID, second.cli.DeviceID)
		if err != nil {
			t.Fatal(err)
		}
		if trust, _ := alice.mach.ResolveTrustContext(ctx, dev); trust != id.TrustStateCrossSignedVerified {
			t.Errorf("the first device's trust in the restored second device = %s; want cross-signed and verified", trust)
		}
	})
}

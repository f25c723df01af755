package e2ee_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"chappe.eu/chappe/internal/credentials"
	"chappe.eu/chappe/internal/room/canonicaljson"
	"chappe.eu/chappe/internal/room/signing"
	"chappe.eu/chappe/internal/store"
	"chappe.eu/chappe/internal/testserver"
)

// The numbers of docs/benchmarks.md ("E2EE"): a room of 1,000 devices
// (250 users with 4 devices each) as the client of one of them sees it.
//
//	go test -run '^$' -bench BenchmarkE2EE -benchtime 10x ./internal/e2ee/
const (
	benchUsers      = 250
	benchDevicesPer = 4
)

// benchRoom is a server seeded through the store (no password hashing,
// no HTTP) with benchUsers users of benchDevicesPer devices with signed
// device keys, and a client that asks about them.
type benchRoom struct {
	srv     *testserver.Server
	client  *testserver.Client
	users   []string
	devices [][2]string // user, device
	keys    map[[2]string]ed25519.PrivateKey
}

func seedRoom(b *testing.B, engine string) *benchRoom {
	ctx := context.Background()
	srv := testserver.Start(b, engine, nil)
	br := &benchRoom{srv: srv, client: srv.Register(b, "asker", "password1"), keys: map[[2]string]ed25519.PrivateKey{}}
	for u := range benchUsers {
		user := fmt.Sprintf("@user%03d:chappe.test", u)
		br.users = append(br.users, user)
		if err := srv.DB.CreateAccount(ctx, store.Account{UserID: user}); err != nil {
			b.Fatal(err)
		}
		for d := range benchDevicesPer {
			dev := fmt.Sprintf("DEV%03d%d", u, d)
			if err := srv.DB.CreateLogin(ctx, store.NewLogin{UserID: user, DeviceID: dev,
				AccessHash: credentials.HashToken(credentials.NewToken("cht_"))}); err != nil {
				b.Fatal(err)
			}
			_, priv, _ := ed25519.GenerateKey(rand.Reader)
			k := [2]string{user, dev}
			br.devices, br.keys[k] = append(br.devices, k), priv
			curve := make([]byte, 32)
			rand.Read(curve)
			raw, _ := json.Marshal(map[string]any{"user_id": user, "device_id": dev,
				"algorithms": []string{"m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"},
				"keys":       map[string]string{"ed25519:" + dev: b64(priv.Public().(ed25519.PublicKey)), "curve25519:" + dev: b64(curve)}})
			signed, err := signing.Sign(raw, user, signing.KeyID("ed25519:"+dev), priv)
			if err != nil {
				b.Fatal(err)
			}
			identity, _ := canonicaljson.Get(signed, "keys")
			if _, err := srv.DB.UploadKeys(ctx, store.KeysUpload{UserID: user, DeviceID: dev, DeviceKeys: signed, Identity: identity,
				FallbackKeys: []store.OneTimeKey{{Algorithm: "signed_curve25519", KeyID: "F", JSON: []byte(`{"fallback":true,"key":"x"}`)}}}); err != nil {
				b.Fatal(err)
			}
		}
	}
	return br
}

// addOneTimeKeys gives every device n more one-time keys.
func (br *benchRoom) addOneTimeKeys(b *testing.B, round, n int) {
	ctx := context.Background()
	for _, k := range br.devices {
		otks := make([]store.OneTimeKey, n)
		for i := range otks {
			otks[i] = store.OneTimeKey{Algorithm: "signed_curve25519", KeyID: fmt.Sprintf("R%dK%d", round, i),
				JSON: []byte(`{"key":"` + strings.Repeat("k", 43) + `","signatures":{}}`)}
		}
		if _, err := br.srv.DB.UploadKeys(ctx, store.KeysUpload{UserID: k[0], DeviceID: k[1], OneTimeKeys: otks}); err != nil {
			b.Fatal(err)
		}
	}
}

// cpuTime is this process's CPU time so far: client, server and SQLite,
// not the PostgreSQL server. On a loaded machine it says more than wall
// time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds cpu-ms/op since start.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}

func BenchmarkE2EE(b *testing.B) {
	for _, engine := range testserver.Engines(b) {
		b.Run(engine, func(b *testing.B) {
			br := seedRoom(b, engine)
			query := map[string]any{}
			for _, u := range br.users {
				query[u] = []string{}
			}
			b.Run("keys_query_1000_devices", func(b *testing.B) {
				defer reportCPU(b, cpuTime())
				for range b.N {
					r := br.client.MustDo("POST", "/_matrix/client/v3/keys/query", map[string]any{"device_keys": query}, 200)
					if n := len(obj(r.Body["device_keys"])); n != benchUsers {
						b.Fatalf("query answered for %d users; want %d", n, benchUsers)
					}
				}
			})

			claims := map[string]map[string]string{}
			for _, k := range br.devices {
				if claims[k[0]] == nil {
					claims[k[0]] = map[string]string{}
				}
				claims[k[0]][k[1]] = "signed_curve25519"
			}
			round := 0
			b.Run("keys_claim_1000_devices", func(b *testing.B) {
				b.StopTimer()
				round++
				br.addOneTimeKeys(b, round, b.N)
				b.StartTimer()
				defer reportCPU(b, cpuTime())
				for range b.N {
					r := br.client.MustDo("POST", "/_matrix/client/v3/keys/claim", map[string]any{"one_time_keys": claims}, 200)
					got := 0
					for _, devs := range obj(r.Body["one_time_keys"]) {
						for _, ks := range obj(devs) {
							if _, fallback := obj(ks)["signed_curve25519:F"]; !fallback {
								got++
							}
						}
					}
					if got != len(br.devices) {
						b.Fatalf("claim returned %d one-time keys; want %d", got, len(br.devices))
					}
				}
			})

			// One room key shared with every device: an Olm message of its
			// own for each (about the size of a real one).
			ciphertext := strings.Repeat("c", 500)
			messages := map[string]map[string]any{}
			for _, k := range br.devices {
				if messages[k[0]] == nil {
					messages[k[0]] = map[string]any{}
				}
				messages[k[0]][k[1]] = map[string]any{"algorithm": "m.olm.v1.curve25519-aes-sha2", "sender_key": "s",
					"ciphertext": map[string]any{"key": map[string]any{"type": 0, "body": ciphertext}}}
			}
			txn := 0
			b.Run("to_device_fanout_1000_devices", func(b *testing.B) {
				defer reportCPU(b, cpuTime())
				for range b.N {
					txn++
					br.client.MustDo("PUT", fmt.Sprintf("/_matrix/client/v3/sendToDevice/m.room.encrypted/b%d", txn),
						map[string]any{"messages": messages}, 200)
				}
			})

			sessionData := map[string]any{"ephemeral": strings.Repeat("e", 43), "ciphertext": strings.Repeat("c", 400), "mac": strings.Repeat("m", 11)}
			batch := 0
			// As clients do, in requests of 200 sessions (Element's batch):
			// 10,000 sessions in one body would pass the 1 MiB request cap.
			// Each op fills a new backup version, as a client backing up
			// 10,000 sessions into a new backup does.
			b.Run("backup_upload_10000_sessions", func(b *testing.B) {
				defer reportCPU(b, cpuTime())
				for range b.N {
					v := br.client.MustDo("POST", "/_matrix/client/v3/room_keys/version", map[string]any{
						"algorithm": "m.megolm_backup.v1.curve25519-aes-sha2", "auth_data": map[string]any{"public_key": "p"}}, 200).String("version")
					for range 50 {
						batch++
						sessions := map[string]any{}
						for s := range 200 {
							sessions[fmt.Sprintf("session%d_%d", batch, s)] = map[string]any{"first_message_index": 0,
								"forwarded_count": 0, "is_verified": true, "session_data": sessionData}
						}
						room := fmt.Sprintf("!room%d:chappe.test", batch%20)
						br.client.MustDo("PUT", "/_matrix/client/v3/room_keys/keys?version="+v,
							map[string]any{"rooms": map[string]any{room: map[string]any{"sessions": sessions}}}, 200)
					}
				}
			})
		})
	}
}

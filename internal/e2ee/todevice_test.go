package e2ee_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"chappe.eu/chappe/internal/testserver"
)

// toDevice returns the bodies ("n" fields) of a sync's to-device events.
func toDevice(t testing.TB, c *testserver.Client, since string) (ns []int, next string) {
	t.Helper()
	r := syncFrom(t, c, since)
	for _, e := range list(obj(r.Body["to_device"])["events"]) {
		ev := obj(e)
		if ev["sender"] == "" || ev["type"] != "m.test" {
			t.Fatalf("to-device event %v; want type m.test with a sender", ev)
		}
		ns = append(ns, num(obj(ev["content"])["n"]))
	}
	return ns, r.String("next_batch")
}

func sendToDevice(t testing.TB, c *testserver.Client, txn string, messages map[string]any) {
	t.Helper()
	c.MustDo("PUT", "/_matrix/client/v3/sendToDevice/m.test/"+txn, map[string]any{"messages": messages}, 200)
}

// TestToDevice: messages reach the named device or every device ("*"), in
// order, once per transaction ID; a response carries at most 100 and a
// message is deleted only when the next since token acknowledges it
// (spec: "Send-to-Device messaging").
func TestToDevice(t *testing.T) {
	forEngine(t, func(t *testing.T, srv *testserver.Server) {
		alice := srv.Register(t, "alice", "password1")
		bob := srv.Register(t, "bob", "password1")
		bob2 := srv.Login(t, "bob", "password1")

		sendToDevice(t, alice, "t1", map[string]any{bob.UserID: map[string]any{bob.DeviceID: map[string]any{"n": 1}}})
		sendToDevice(t, alice, "t1", map[string]any{bob.UserID: map[string]any{bob.DeviceID: map[string]any{"n": 1}}}) // a retry
		sendToDevice(t, alice, "t2", map[string]any{bob.UserID: map[string]any{"*": map[string]any{"n": 2}, bob2.DeviceID: map[string]any{"n": 3}}})
		sendToDevice(t, alice, "t3", map[string]any{bob.UserID: map[string]any{"NOSUCHDEVICE": map[string]any{"n": 4}}})

		got, next := toDevice(t, bob, "")
		if fmt.Sprint(got) != "[1 2]" {
			t.Fatalf("bob's device got %v; want [1 2] (the retry sends nothing twice)", got)
		}
		if got, _ := toDevice(t, bob2, ""); fmt.Sprint(got) != "[3]" {
			t.Fatalf("bob's second device got %v; want [3] (its own message wins over *)", got)
		}
		// Until a since token acknowledges them, the messages stay.
		if again, _ := toDevice(t, bob, ""); fmt.Sprint(again) != "[1 2]" {
			t.Fatalf("a second initial sync got %v; want [1 2] again", again)
		}
		got, next = toDevice(t, bob, next)
		if len(got) != 0 {
			t.Fatalf("after acknowledging: %v; want nothing", got)
		}

		// A waiting sync wakes for a message.
		done := make(chan *testserver.Response)
		go func() { done <- bob.Do("GET", "/_matrix/client/v3/sync?timeout=10000&since="+next, nil) }()
		time.Sleep(100 * time.Millisecond)
		sendToDevice(t, alice, "t4", map[string]any{bob.UserID: map[string]any{bob.DeviceID: map[string]any{"n": 5}}})
		select {
		case r := <-done:
			if n := len(list(obj(r.Body["to_device"])["events"])); n != 1 {
				t.Fatalf("woken sync carries %d to-device events; want 1: %s", n, r.Raw)
			}
			next = r.String("next_batch")
		case <-time.After(5 * time.Second):
			t.Fatal("a waiting /sync did not wake for a to-device message")
		}

		// A backlog comes 100 at a time, in order, across syncs.
		for i := range 250 {
			sendToDevice(t, alice, fmt.Sprintf("b%d", i), map[string]any{bob.UserID: map[string]any{bob.DeviceID: map[string]any{"n": 1000 + i}}})
		}
		var all []int
		for range 4 {
			got, next = toDevice(t, bob, next)
			if len(got) > 100 {
				t.Fatalf("one sync carried %d to-device messages; want at most 100", len(got))
			}
			all = append(all, got...)
		}
		if len(all) != 250 || all[0] != 1000 || all[249] != 1249 {
			t.Fatalf("backlog delivered as %d messages from %v to %v; want 250 from 1000 to 1249", len(all), all[0], all[len(all)-1])
		}
		for i := 1; i < len(all); i++ {
			if all[i] != all[i-1]+1 {
				t.Fatalf("backlog out of order at %d: %v after %v", i, all[i], all[i-1])
			}
		}

		for _, tc := range []struct {
			name, path string
			body       any
			status     int
			code       string
		}{
			{"no messages", "/m.test/x1", map[string]any{}, 400, "M_MISSING_PARAM"},
			{"content not an object", "/m.test/x2", map[string]any{"messages": map[string]any{bob.UserID: map[string]any{"*": 5}}}, 400, "M_BAD_JSON"},
			{"invalid user", "/m.test/x3", map[string]any{"messages": map[string]any{"bob": map[string]any{}}}, 400, "M_INVALID_PARAM"},
		} {
			if r := alice.Do("PUT", "/_matrix/client/v3/sendToDevice"+tc.path, tc.body); r.Status != tc.status || r.Errcode() != tc.code {
				t.Errorf("%s: sendToDevice = %d %s; want %d %s", tc.name, r.Status, r.Raw, tc.status, tc.code)
			}
		}
	})
}

// TestToDeviceSurvivesRestart: messages wait in the database, so a device
// that syncs after a restart gets what was sent before it.
func TestToDeviceSurvivesRestart(t *testing.T) {
	for _, engine := range testserver.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			srv := testserver.Start(t, engine, nil)
			alice := srv.Register(t, "alice", "password1")
			bob := srv.Register(t, "bob", "password1")
			_, next := toDevice(t, bob, "")
			sendToDevice(t, alice, "r1", map[string]any{bob.UserID: map[string]any{bob.DeviceID: map[string]any{"n": 7}}})

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			srv = testserver.StartConfig(t, srv.Config)
			bob.URL = srv.URL
			if got, _ := toDevice(t, bob, next); fmt.Sprint(got) != "[7]" {
				t.Fatalf("after a restart bob got %v; want [7]", got)
			}
		})
	}
}

// TestToDeviceTooMany: a request reaching more devices than the cap is
// refused whole.
func TestToDeviceTooMany(t *testing.T) {
	srv := testserver.Start(t, "sqlite", nil)
	alice := srv.Register(t, "alice", "password1")
	msgs := map[string]any{}
	for i := range 10_001 {
		msgs[fmt.Sprintf("D%d", i)] = map[string]any{}
	}
	r := alice.Do("PUT", "/_matrix/client/v3/sendToDevice/m.test/big", map[string]any{"messages": map[string]any{alice.UserID: msgs}})
	if r.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("sendToDevice to 10,001 devices = %d %s; want 413", r.Status, r.Raw)
	}
}

package syncapi_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"chappe.eu/chappe/internal/testserver"
)

// receiptsIn returns the m.receipt content of a joined room's ephemeral
// events in a sync response (nil if none).
func receiptsIn(r *testserver.Response, roomID string) map[string]any {
	room := syncSection(r, "join", roomID)
	eph, _ := room["ephemeral"].(map[string]any)
	evs, _ := eph["events"].([]any)
	for _, e := range evs {
		ev := e.(map[string]any)
		if ev["type"] == "m.receipt" {
			return ev["content"].(map[string]any)
		}
	}
	return nil
}

// receiptOf returns the receipt data of user for eventID and type.
func receiptOf(content map[string]any, eventID, typ, user string) map[string]any {
	byType, _ := content[eventID].(map[string]any)
	users, _ := byType[typ].(map[string]any)
	data, _ := users[user].(map[string]any)
	return data
}

// TestReceiptsInSync: m.read reaches the room's members, initial and
// incremental, and wakes their long-polls; m.read.private reaches its
// owner only; a receipt behind the current one changes nothing; the
// ephemeral filter can leave receipts out.
func TestReceiptsInSync(t *testing.T) {
	for _, engine := range testserver.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			srv := testserver.Start(t, engine, nil)
			alice := srv.Register(t, "alice", "password1")
			bob := srv.Register(t, "bob", "password1")
			roomID := pushRoom(t, alice, "public_chat", bob)
			e1 := pushText(t, alice, roomID, "one")
			e2 := pushText(t, alice, roomID, "two")

			next := bob.MustDo("GET", "/_matrix/client/v3/sync", nil, 200).String("next_batch")
			done := make(chan *testserver.Response)
			go func() { done <- bob.Do("GET", "/_matrix/client/v3/sync?timeout=10000&since="+next, nil) }()
			time.Sleep(100 * time.Millisecond)
			receipt(t, alice, roomID, "m.read", e2, map[string]any{"thread_id": "main"}, 200)
			var r *testserver.Response
			select {
			case r = <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("bob's long-poll did not return after alice's m.read")
			}
			if r.Status != http.StatusOK {
				t.Fatalf("sync = %d %s", r.Status, r.Raw)
			}
			got := receiptOf(receiptsIn(r, roomID), e2, "m.read", alice.UserID)
			if got == nil || got["thread_id"] != "main" || got["ts"] == nil {
				t.Fatalf("bob's incremental sync: alice's receipt = %v; want m.read on %s with ts and thread_id main\n%s", got, e2, r.Raw)
			}
			next = r.String("next_batch")

			// A private receipt: alice sees hers, bob nothing.
			aliceNext := alice.MustDo("GET", "/_matrix/client/v3/sync", nil, 200).String("next_batch")
			receipt(t, alice, roomID, "m.read.private", e2, nil, 200)
			r = bob.MustDo("GET", "/_matrix/client/v3/sync?since="+next, nil, 200)
			if c := receiptsIn(r, roomID); c != nil {
				t.Fatalf("bob saw receipts %v after alice's private receipt; want none", c)
			}
			r = alice.MustDo("GET", "/_matrix/client/v3/sync?timeout=5000&since="+aliceNext, nil, 200)
			if receiptOf(receiptsIn(r, roomID), e2, "m.read.private", alice.UserID) == nil {
				t.Fatalf("alice's sync lacks her private receipt: %s", r.Raw)
			}
			r = bob.MustDo("GET", "/_matrix/client/v3/sync", nil, 200)
			c := receiptsIn(r, roomID)
			if receiptOf(c, e2, "m.read.private", alice.UserID) != nil || receiptOf(c, e2, "m.read", alice.UserID) == nil {
				t.Fatalf("bob's initial sync receipts = %v; want alice's m.read only", c)
			}
			next = r.String("next_batch")

			// Backwards: nothing changes, nothing is sent.
			receipt(t, alice, roomID, "m.read", e1, map[string]any{"thread_id": "main"}, 200)
			r = bob.MustDo("GET", "/_matrix/client/v3/sync?since="+next, nil, 200)
			if c := receiptsIn(r, roomID); c != nil {
				t.Fatalf("a receipt behind the current one reached bob: %v", c)
			}
			// An unthreaded receipt is a separate one; the filter hides it.
			receipt(t, alice, roomID, "m.read", e1, nil, 200)
			filter := url.QueryEscape(`{"room":{"ephemeral":{"not_types":["m.receipt"]}}}`)
			r = bob.MustDo("GET", "/_matrix/client/v3/sync?filter="+filter+"&since="+next, nil, 200)
			if c := receiptsIn(r, roomID); c != nil {
				t.Fatalf("receipts %v despite the filter", c)
			}
			r = bob.MustDo("GET", "/_matrix/client/v3/sync?since="+next, nil, 200)
			got = receiptOf(receiptsIn(r, roomID), e1, "m.read", alice.UserID)
			if got == nil || got["thread_id"] != nil {
				t.Fatalf("unthreaded receipt = %v; want one without thread_id\n%s", got, r.Raw)
			}
		})
	}
}

// TestPushRulesInSync: m.push_rules is in every initial sync and in an
// incremental one after a change, and wakes a waiting sync.
func TestPushRulesInSync(t *testing.T) {
	for _, engine := range testserver.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			srv := testserver.Start(t, engine, nil)
			alice := srv.Register(t, "alice", "password1")
			pushRules := func(r *testserver.Response) map[string]any {
				ad, _ := r.Body["account_data"].(map[string]any)
				evs, _ := ad["events"].([]any)
				for _, e := range evs {
					if ev := e.(map[string]any); ev["type"] == "m.push_rules" {
						return ev["content"].(map[string]any)["global"].(map[string]any)
					}
				}
				return nil
			}
			r := alice.MustDo("GET", "/_matrix/client/v3/sync", nil, 200)
			g := pushRules(r)
			if g == nil || len(g["override"].([]any)) == 0 || len(g["underride"].([]any)) == 0 {
				t.Fatalf("initial sync's m.push_rules = %v; want the default ruleset\n%s", g, r.Raw)
			}
			next := r.String("next_batch")
			r = alice.MustDo("GET", "/_matrix/client/v3/sync?since="+next, nil, 200)
			if pushRules(r) != nil {
				t.Fatal("m.push_rules in an incremental sync without a change")
			}
			done := make(chan *testserver.Response)
			go func() { done <- alice.Do("GET", "/_matrix/client/v3/sync?timeout=10000&since="+next, nil) }()
			time.Sleep(100 * time.Millisecond)
			alice.MustDo("PUT", "/_matrix/client/v3/pushrules/global/override/.m.rule.master/enabled", map[string]any{"enabled": true}, 200)
			select {
			case r = <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("a push rule change did not wake the long-poll")
			}
			g = pushRules(r)
			if g == nil {
				t.Fatalf("no m.push_rules after a change: %s", r.Raw)
			}
			master := g["override"].([]any)[0].(map[string]any)
			if master["rule_id"] != ".m.rule.master" || master["enabled"] != true {
				t.Fatalf("master rule in m.push_rules = %v; want enabled", master)
			}
		})
	}
}

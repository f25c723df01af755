package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"chappe.eu/chappe/internal/store"
	"chappe.eu/chappe/internal/testserver"
)

// Account data takes positions from the global stream: AccountDataSince
// returns exactly the entries changed after a position, and a change moves
// an entry forward instead of duplicating it.
func TestAccountDataStream(t *testing.T) {
	ctx := context.Background()
	for _, engine := range testserver.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			db := open(t, testserver.NewDatabase(t, engine), t.TempDir())
			defer db.Close()
			set := func(room, typ, content string) int64 {
				t.Helper()
				pos, err := db.SetAccountData(ctx, "@a:x", room, typ, json.RawMessage(content))
				if err != nil {
					t.Fatalf("SetAccountData(%q, %q) = %v", room, typ, err)
				}
				return pos
			}
			p1 := set("", "org.example.a", `{ "k" : 1 }`)
			p2 := set("!r:x", "org.example.b", `{"k":2}`)
			if p2 != p1+1 {
				t.Fatalf("positions %d, %d; want consecutive", p1, p2)
			}
			if now, _ := db.StreamPos(ctx); now != p2 {
				t.Fatalf("StreamPos = %d; want %d: account data shares the global counter", now, p2)
			}
			p3 := set("", "org.example.a", `{"k":3}`)

			since := func(from int64) string {
				t.Helper()
				ds, err := db.AccountDataSince(ctx, "@a:x", from, p3)
				if err != nil {
					t.Fatal(err)
				}
				var s string
				for _, d := range ds {
					s += fmt.Sprintf("[%s %s %s]", d.RoomID, d.Type, d.Content)
				}
				return s
			}
			tests := []struct {
				from int64
				want string
			}{
				{0, `[!r:x org.example.b {"k":2}][ org.example.a {"k":3}]`},
				{p1, `[!r:x org.example.b {"k":2}][ org.example.a {"k":3}]`},
				{p2, `[ org.example.a {"k":3}]`},
				{p3, ""},
			}
			for _, tt := range tests {
				if got := since(tt.from); got != tt.want {
					t.Errorf("AccountDataSince(%d) = %s; want %s", tt.from, got, tt.want)
				}
			}
			if ds, _ := db.AccountDataSince(ctx, "@other:x", 0, p3); len(ds) != 0 {
				t.Errorf("AccountDataSince of another user = %v; want nothing", ds)
			}
			c, err := db.AccountDataOf(ctx, "@a:x", "!r:x", "org.example.b")
			if err != nil || string(c) != `{"k":2}` {
				t.Errorf("AccountDataOf = %s, %v; want {\"k\":2}", c, err)
			}
			if _, err := db.AccountDataOf(ctx, "@a:x", "", "org.example.b"); err != store.ErrNotFound {
				t.Errorf("AccountDataOf of a room type as global = %v; want ErrNotFound (no inheritance)", err)
			}
		})
	}
}

// Concurrent UpdateAccountData calls on one entry lose no update.
func TestUpdateAccountDataConcurrently(t *testing.T) {
	ctx := context.Background()
	for _, engine := range testserver.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			db := open(t, testserver.NewDatabase(t, engine), t.TempDir())
			defer db.Close()
			var wg sync.WaitGroup
			for i := range 10 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := db.UpdateAccountData(ctx, "@a:x", "!r:x", "m.tag", func(old json.RawMessage) (json.RawMessage, error) {
						c := map[string]map[string]any{"tags": {}}
						if old != nil {
							if err := json.Unmarshal(old, &c); err != nil {
								return nil, err
							}
						}
						c["tags"][fmt.Sprint("u.", i)] = map[string]any{}
						return json.Marshal(c)
					})
					if err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			c, err := db.AccountDataOf(ctx, "@a:x", "!r:x", "m.tag")
			if err != nil {
				t.Fatal(err)
			}
			var got struct{ Tags map[string]any }
			json.Unmarshal(c, &got)
			if len(got.Tags) != 10 {
				t.Fatalf("after 10 concurrent updates: %s; want 10 tags", c)
			}
			before, _ := db.StreamPos(ctx)
			pos, err := db.UpdateAccountData(ctx, "@a:x", "!r:x", "m.tag", func(json.RawMessage) (json.RawMessage, error) { return nil, nil })
			after, _ := db.StreamPos(ctx)
			if pos != 0 || err != nil || after != before {
				t.Fatalf("an update with nothing to write = %d, %v, stream %d -> %d; want 0, nil and no position taken", pos, err, before, after)
			}
		})
	}
}

func TestParseIgnoredUsers(t *testing.T) {
	tests := []struct {
		content string
		want    string
	}{
		{`{"ignored_users":{"@b:x":{},"@c:x":{}}}`, "[@b:x @c:x]"},
		{`{"ignored_users":{"@a:x":{},"@b:x":{}}}`, "[@b:x]"}, // never oneself
		{`{"ignored_users":[]}`, "[]"},
		{`{"ignored_users":"@b:x"}`, "[]"},
		{`{}`, "[]"},
		{`not json`, "[]"},
	}
	for _, tt := range tests {
		m := store.ParseIgnoredUsers(json.RawMessage(tt.content), "@a:x")
		var got []string
		for u := range m {
			got = append(got, u)
		}
		if len(got) == 2 && got[0] > got[1] {
			got[0], got[1] = got[1], got[0]
		}
		if fmt.Sprint(got) != tt.want && !(tt.want == "[]" && len(got) == 0) {
			t.Errorf("ParseIgnoredUsers(%s) = %v; want %s", tt.content, got, tt.want)
		}
	}
}

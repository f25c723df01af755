package presence_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	. "chappe.eu/chappe/internal/presence"
	"chappe.eu/chappe/internal/store"
	"chappe.eu/chappe/internal/testserver"
)

const (
	sec    = int64(1000)
	minute = 60 * sec
	t0     = int64(1_700_000_000_000) // a time, in ms
)

func msg(s string) *string { return &s }

// show prints the fields the rules change.
func show(p store.Presence) string {
	m := "-"
	if p.StatusMsg != nil {
		m = *p.StatusMsg
	}
	return fmt.Sprintf("%s msg=%s active@%d until@%d ca=%v", p.State, m, (p.LastActiveTS-t0)/sec, (p.SyncUntilTS-t0)/sec, p.CurrentlyActive)
}

var (
	offline    = store.Presence{State: Offline}
	onlineNow  = store.Presence{State: Online, LastActiveTS: t0, SyncUntilTS: t0 + 90*sec, CurrentlyActive: true}
	onlineIdle = store.Presence{State: Online, LastActiveTS: t0 - 10*minute, SyncUntilTS: t0 + 90*sec}
	away       = store.Presence{State: Unavailable, LastActiveTS: t0 - 10*minute, SyncUntilTS: t0 + 90*sec, StatusMsg: msg("lunch")}
)

// Each rule, from a few starting points: what it stores and whether
// clients hear of it.
var ruleTests = []struct {
	name string
	from store.Presence
	rule func(p *store.Presence)
	want string
	kind store.PresenceChange
}{
	// /sync
	{"sync brings offline online", offline, func(p *store.Presence) { RuleSyncing(p, "", t0, 30*time.Second) },
		"online msg=- active@0 until@90 ca=true", store.PresenceNotify},
	{"sync keeps idle unavailable", away, func(p *store.Presence) { RuleSyncing(p, "", t0, 30*time.Second) },
		"unavailable msg=lunch active@-600 until@90 ca=false", store.PresenceUnchanged},
	{"sync within the recorded wait writes nothing", onlineNow, func(p *store.Presence) { RuleSyncing(p, "online", t0+30*sec, 30*time.Second) },
		"online msg=- active@0 until@90 ca=true", store.PresenceUnchanged},
	{"sync past the recorded wait extends it silently", onlineNow, func(p *store.Presence) { RuleSyncing(p, "online", t0+80*sec, 30*time.Second) },
		"online msg=- active@0 until@170 ca=true", store.PresenceSilent},
	{"sync with set_presence=unavailable", onlineNow, func(p *store.Presence) { RuleSyncing(p, Unavailable, t0, 30*time.Second) },
		"unavailable msg=- active@0 until@90 ca=false", store.PresenceNotify},
	// PUT /presence
	{"set online", offline, func(p *store.Presence) { RuleSet(p, Online, msg("hi"), t0) },
		"online msg=hi active@0 until@-1700000000 ca=true", store.PresenceNotify},
	{"set the same again within seconds", onlineNow, func(p *store.Presence) { RuleSet(p, Online, nil, t0+5*sec) },
		"online msg=- active@5 until@90 ca=true", store.PresenceUnchanged},
	{"set the same again later: activity, silently", onlineNow, func(p *store.Presence) { RuleSet(p, Online, nil, t0+30*sec) },
		"online msg=- active@30 until@90 ca=true", store.PresenceSilent},
	{"set clears the status message", away, func(p *store.Presence) { RuleSet(p, Unavailable, nil, t0) },
		"unavailable msg=- active@-600 until@90 ca=false", store.PresenceNotify},
	{"set offline", onlineNow, func(p *store.Presence) { RuleSet(p, Offline, nil, t0) },
		"offline msg=- active@0 until@90 ca=false", store.PresenceNotify},
	// activity
	{"activity brings unavailable online", away, func(p *store.Presence) { RuleActive(p, t0) },
		"online msg=lunch active@0 until@90 ca=true", store.PresenceNotify},
	{"activity makes idle online currently active", onlineIdle, func(p *store.Presence) { RuleActive(p, t0) },
		"online msg=- active@0 until@90 ca=true", store.PresenceNotify},
	{"activity while currently active is silent", onlineNow, func(p *store.Presence) { RuleActive(p, t0+20*sec) },
		"online msg=- active@20 until@90 ca=true", store.PresenceSilent},
	{"activity leaves offline offline", offline, func(p *store.Presence) { RuleActive(p, t0) },
		"offline msg=- active@0 until@-1700000000 ca=false", store.PresenceSilent},
	// timeouts
	{"no timeout yet", onlineNow, func(p *store.Presence) { RuleTimeouts(p, t0+30*sec) },
		"online msg=- active@0 until@90 ca=true", store.PresenceUnchanged},
	{"inactive for a minute: no longer currently active", onlineNow, func(p *store.Presence) { RuleTimeouts(p, t0+61*sec) },
		"online msg=- active@0 until@90 ca=false", store.PresenceNotify},
	{"idle for 5 minutes: unavailable", store.Presence{State: Online, LastActiveTS: t0, SyncUntilTS: t0 + 10*minute}, func(p *store.Presence) { RuleTimeouts(p, t0+5*minute+sec) },
		"unavailable msg=- active@0 until@600 ca=false", store.PresenceNotify},
	{"still syncing at 4 minutes: online", store.Presence{State: Online, LastActiveTS: t0, SyncUntilTS: t0 + 10*minute, CurrentlyActive: true}, func(p *store.Presence) { RuleTimeouts(p, t0+4*minute) },
		"online msg=- active@0 until@600 ca=false", store.PresenceNotify},
	{"not syncing: offline 30 s after the wait", onlineNow, func(p *store.Presence) { RuleTimeouts(p, t0+121*sec) },
		"offline msg=- active@0 until@90 ca=false", store.PresenceNotify},
	{"not syncing but active: not offline yet", store.Presence{State: Online, LastActiveTS: t0, SyncUntilTS: t0 - 10*minute, CurrentlyActive: true}, func(p *store.Presence) { RuleTimeouts(p, t0+20*sec) },
		"online msg=- active@0 until@-600 ca=true", store.PresenceUnchanged},
	{"unavailable and gone: offline, message kept", away, func(p *store.Presence) { RuleTimeouts(p, t0+3*minute) },
		"offline msg=lunch active@-600 until@90 ca=false", store.PresenceNotify},
	{"offline stays offline", offline, func(p *store.Presence) { RuleTimeouts(p, t0) },
		"offline msg=- active@-1700000000 until@-1700000000 ca=false", store.PresenceUnchanged},
}

func TestRules(t *testing.T) {
	for _, tt := range ruleTests {
		p := tt.from
		before := p
		tt.rule(&p)
		if got := show(p); got != tt.want {
			t.Errorf("%s: %s -> %s; want %s", tt.name, show(before), got, tt.want)
		}
		if got := Classify(before, p); got != tt.kind {
			t.Errorf("%s: classify = %v; want %v", tt.name, got, tt.kind)
		}
	}
}

func TestContent(t *testing.T) {
	tests := []struct {
		p    store.Presence
		want string
	}{
		{store.Presence{State: Offline}, "map[presence:offline]"},
		{store.Presence{State: Online, LastActiveTS: t0 - 5*sec, CurrentlyActive: true}, "map[currently_active:true last_active_ago:5000 presence:online]"},
		{store.Presence{State: Online, LastActiveTS: t0 - 5*minute}, "map[currently_active:false last_active_ago:300000 presence:online]"},
		{store.Presence{State: Unavailable, LastActiveTS: t0 - 5*minute, StatusMsg: msg("")}, "map[last_active_ago:300000 presence:unavailable status_msg:]"},
	}
	for _, tt := range tests {
		if got := fmt.Sprint(Content(tt.p, t0)); got != tt.want {
			t.Errorf("Content(%s) = %s; want %s", show(tt.p), got, tt.want)
		}
	}
}

type recorder struct {
	mu    sync.Mutex
	woken []string
}

func (r *recorder) NotifyRoom(pos int64, roomID string) { r.add(fmt.Sprintf("room %s", roomID)) }
func (r *recorder) NotifyUser(pos int64, userID string) { r.add(fmt.Sprintf("user %s", userID)) }
func (r *recorder) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.woken = append(r.woken, s)
}

// applyTimeouts finds exactly the users whose presence timed out, changes
// them with a new stream position and wakes them; others stay as they are.
func TestApplyTimeouts(t *testing.T) {
	ctx := context.Background()
	for _, engine := range testserver.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			db, err := store.Open(ctx, testserver.NewDatabase(t, engine), t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			rec := &recorder{}
			s := NewWithoutLoop(db, rec)
			now := time.Now().UnixMilli()
			users := map[string]store.Presence{
				"@fresh:x":   {State: Online, LastActiveTS: now, SyncUntilTS: now + 90*sec, CurrentlyActive: true},
				"@idle:x":    {State: Online, LastActiveTS: now - 6*minute, SyncUntilTS: now + 90*sec},
				"@gone:x":    {State: Online, LastActiveTS: now - 3*minute, SyncUntilTS: now - 31*sec},
				"@quiet:x":   {State: Online, LastActiveTS: now - 2*minute, SyncUntilTS: now + 90*sec, CurrentlyActive: true},
				"@away:x":    {State: Unavailable, LastActiveTS: now - 60*minute, SyncUntilTS: now + 90*sec},
				"@offline:x": {State: Offline, LastActiveTS: now - 60*minute},
			}
			for u, p := range users {
				if _, _, err := db.UpdatePresence(ctx, u, func(q *store.Presence) store.PresenceChange {
					*q = p
					q.UserID = u
					return store.PresenceSilent
				}); err != nil {
					t.Fatal(err)
				}
			}
			before, _ := db.StreamPos(ctx)
			if err := s.ApplyTimeouts(ctx, now); err != nil {
				t.Fatal(err)
			}
			after, _ := db.StreamPos(ctx)
			want := map[string]string{
				"@fresh:x": "online/true", "@idle:x": "unavailable/false", "@gone:x": "offline/false",
				"@quiet:x": "online/false", "@away:x": "unavailable/false", "@offline:x": "offline/false",
			}
			changed := 0
			for u, w := range want {
				p, err := db.PresenceOf(ctx, u)
				if err != nil {
					t.Fatal(err)
				}
				if got := fmt.Sprintf("%s/%v", p.State, p.CurrentlyActive); got != w {
					t.Errorf("%s after timeouts = %s; want %s", u, got, w)
				}
				if p.Pos > before {
					changed++
				}
			}
			if changed != 3 || after != before+3 {
				t.Errorf("%d users got new positions (stream %d -> %d); want 3 (idle, gone, quiet)", changed, before, after)
			}
			if len(rec.woken) != 3 {
				t.Errorf("woken %v; want the 3 changed users (who are in no room)", rec.woken)
			}
			// A second pass finds nothing more to do.
			if err := s.ApplyTimeouts(ctx, now); err != nil {
				t.Fatal(err)
			}
			if again, _ := db.StreamPos(ctx); again != after {
				t.Errorf("a second pass moved the stream %d -> %d; want nothing", after, again)
			}
		})
	}
}

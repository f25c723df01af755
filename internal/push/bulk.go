package push

import (
	"context"
	"strings"
	"sync"

	"chappe.eu/chappe/internal/store"
)

// Evaluator evaluates a new event for every local member of its room. It
// keeps compiled rulesets in memory, keyed by the stream position of the
// user's last change, so a change made by any process is seen at the next
// event: the cache is checked against the positions that the query listing
// the members returns anyway.
type Evaluator struct {
	db     *store.DB
	server string // local users are @…:server

	mu    sync.Mutex // guards cache
	cache map[string]cachedRules
}

type cachedRules struct {
	pos      int64
	compiled *Compiled
}

// maxCachedRulesets bounds the cache; users who never changed their rules
// share the compiled defaults and take no entry.
const maxCachedRulesets = 20_000

// NewEvaluator returns an evaluator for the users of server.
func NewEvaluator(db *store.DB, server string) *Evaluator {
	return &Evaluator{db: db, server: server, cache: map[string]cachedRules{}}
}

// Input is a new event and what its evaluation needs besides the room's
// members.
type Input struct {
	Event  *Event
	Sender string
	// Invitee is the local user an m.room.member invite is for: not yet a
	// member, but their .m.rule.invite_for_me must see it (Synapse does the
	// same).
	Invitee string
	// IsState: the event is a state event, which reaches even users who
	// ignore its sender.
	IsState bool
	Room    RoomContext
	// DisplayName returns a member's display name in the room; called only
	// for users with a rule that needs it.
	DisplayName func(ctx context.Context, userID string) (string, error)
}

// Evaluate returns the actions of every local user other than the sender
// whom the event notifies (the spec: "Homeservers MUST NOT notify the Push
// Gateway for events that the user has sent themselves"). Room.MemberCount
// is set from the members it loads.
func (ev *Evaluator) Evaluate(ctx context.Context, in Input) ([]store.PushAction, error) {
	members, err := ev.db.JoinedMembersRules(ctx, in.Event.RoomID)
	if err != nil {
		return nil, err
	}
	in.Room.MemberCount = len(members)
	if in.Invitee != "" && ev.isLocal(in.Invitee) {
		stored, err := ev.db.PushRulesOf(ctx, []string{in.Invitee})
		if err != nil {
			return nil, err
		}
		members = append(members, store.MemberRules{UserID: in.Invitee, RulesPos: stored[in.Invitee].Pos})
	}
	users := members[:0:0]
	for _, m := range members {
		if m.UserID == in.Sender || !ev.isLocal(m.UserID) {
			continue
		}
		// Like Synapse: a user who ignores the sender is not notified of
		// what they will not see (the spec hides ignored users' events but
		// for state events).
		if m.IgnoredList != nil && !in.IsState && store.ParseIgnoredUsers(m.IgnoredList, m.UserID)[in.Sender] {
			continue
		}
		users = append(users, m)
	}
	rulesets, err := ev.rulesets(ctx, users)
	if err != nil {
		return nil, err
	}

	// Users on the shared defaults who appear nowhere in the event get the
	// same result: the defaults' conditions about the user's own ID compare
	// it (case-insensitively at most) with a value of the event, so they
	// are false for all of them.
	var shared *Result
	var out []store.PushAction
	var dnErr error
	for _, m := range users {
		c := rulesets[m.UserID]
		var res Result
		if c == compiledDefaults() && !in.Event.mentionsString(m.UserID) {
			if shared == nil {
				r := c.evaluate(in.Event, &in.Room, &userContext{})
				shared = &r
			}
			res = *shared
		} else {
			uid := m.UserID
			res = c.Evaluate(in.Event, &in.Room, uid, func() string {
				if in.DisplayName == nil {
					return ""
				}
				name, err := in.DisplayName(ctx, uid)
				if err != nil && dnErr == nil {
					dnErr = err
				}
				return name
			})
		}
		if res.Notify {
			out = append(out, store.PushAction{UserID: m.UserID, Highlight: res.Highlight, Actions: res.Actions})
		}
	}
	if dnErr != nil {
		return nil, dnErr
	}
	return out, nil
}

func (ev *Evaluator) isLocal(userID string) bool {
	return strings.HasSuffix(userID, ":"+ev.server) && strings.HasPrefix(userID, "@")
}

// rulesets returns each user's compiled rules, loading and compiling only
// those whose rules changed since they were cached.
func (ev *Evaluator) rulesets(ctx context.Context, users []store.MemberRules) (map[string]*Compiled, error) {
	out := make(map[string]*Compiled, len(users))
	var missing []string
	ev.mu.Lock()
	for _, m := range users {
		if m.RulesPos == 0 {
			out[m.UserID] = compiledDefaults()
		} else if c, ok := ev.cache[m.UserID]; ok && c.pos == m.RulesPos {
			out[m.UserID] = c.compiled
		} else {
			missing = append(missing, m.UserID)
		}
	}
	ev.mu.Unlock()
	if len(missing) == 0 {
		return out, nil
	}
	stored, err := ev.db.PushRulesOf(ctx, missing)
	if err != nil {
		return nil, err
	}
	fresh := make(map[string]cachedRules, len(missing))
	for _, id := range missing {
		s, ok := stored[id]
		var u *UserRules
		if ok {
			if u, err = ParseUserRules(s.Doc); err != nil {
				// A document this binary cannot read: the defaults are
				// better than refusing the room's events.
				u = nil
			}
		}
		c := CompileUser(id, u)
		out[id] = c
		if ok {
			fresh[id] = cachedRules{pos: s.Pos, compiled: c}
		}
	}
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if len(ev.cache)+len(fresh) > maxCachedRulesets {
		// Drop about a tenth, in map order: simpler than an LRU, and a
		// miss costs one query and a compile.
		n := maxCachedRulesets / 10
		for k := range ev.cache {
			delete(ev.cache, k)
			if n--; n <= 0 {
				break
			}
		}
	}
	for id, c := range fresh {
		ev.cache[id] = c
	}
	return out, nil
}

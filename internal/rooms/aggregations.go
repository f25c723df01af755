package rooms

import (
	"bytes"
	"context"
	"encoding/json"
	"sort"
	"time"

	"chappe.eu/chappe/internal/store"
)

// What the server adds to an event's unsigned for one viewer, beyond age,
// redacted_because and transaction_id:
//
//   - for state events, replaces_state (always), and prev_content and
//     prev_sender when the viewer may see the replaced event
//     (ClientEventWithoutRoomID.unsigned);
//   - for other events, the bundled aggregations in m.relations
//     ("Aggregations of child events"): m.replace, m.thread and
//     m.reference. m.annotation is not aggregated (event_annotations.md).
//
// Both follow history visibility: a child event or a replaced state event
// the viewer may not see is neither shown nor counted.
//
// Aggregations are bundled wherever events are served, /sync included.
// The spec asks for them in /sync when the timeline is limited; Synapse
// bundles only then, to save the work. Bundling always is allowed, and a
// client that receives the parent and its new children in one response
// is told (spec: "Aggregations of child events") that the parent's
// aggregation already counts them.

// aggregatedRelTypes are the rel_types the server bundles.
var aggregatedRelTypes = []string{"m.replace", "m.thread", "m.reference"}

// visibilities loads each room's Visibility for one viewer once, and the
// users the viewer ignores.
type visibilities struct {
	s      *Service
	userID string
	m      map[string]*Visibility

	ignoredLoaded bool
	ignored       map[string]bool
}

func (vs *visibilities) of(ctx context.Context, roomID string) (*Visibility, error) {
	if v := vs.m[roomID]; v != nil {
		return v, nil
	}
	v, err := vs.s.Visibility(ctx, roomID, vs.userID)
	if err != nil {
		return nil, err
	}
	if vs.m == nil {
		vs.m = map[string]*Visibility{}
	}
	vs.m[roomID] = v
	return v, nil
}

// canSeeMessageAt is CanSee for a message (non-state) event at pos: its
// position is all the rules need.
func (v *Visibility) canSeeMessageAt(pos int64) bool {
	return v.allowed(pos, v.visibilityBefore(pos), v.membershipBefore(pos))
}

// addServerUnsigned completes ClientEvents: out[i] is evs[i] formatted,
// redactedBy says which of evs are redacted.
func (s *Service) addServerUnsigned(ctx context.Context, evs []*Stored, out []ClientEvent, redactedBy map[string]string,
	viewer Viewer, withRoomID bool) error {
	vs := &visibilities{s: s, userID: viewer.UserID}
	if err := s.addPrevState(ctx, evs, out, vs); err != nil {
		return err
	}
	return s.addRelations(ctx, evs, out, redactedBy, vs, viewer, withRoomID)
}

// addPrevState adds replaces_state, prev_content and prev_sender to state
// events. Synapse sends prev_sender too; the spec does not mention it.
func (s *Service) addPrevState(ctx context.Context, evs []*Stored, out []ClientEvent, vs *visibilities) error {
	var ids []string
	for _, e := range evs {
		if e.IsState() {
			ids = append(ids, e.EventID())
		}
	}
	if len(ids) == 0 {
		return nil
	}
	replaced, err := s.db.ReplacedState(ctx, ids)
	if err != nil || len(replaced) == 0 {
		return err
	}
	prevIDs := make([]string, 0, len(replaced))
	for _, p := range replaced {
		prevIDs = append(prevIDs, p.EventID)
	}
	prevs, err := s.Events(ctx, prevIDs)
	if err != nil {
		return err
	}
	for i, e := range evs {
		r, ok := replaced[e.EventID()]
		if !ok {
			continue
		}
		out[i].Unsigned["replaces_state"] = r.EventID
		prev := prevs[r.EventID]
		if prev == nil {
			continue
		}
		vis, err := vs.of(ctx, RoomIDOf(e.Event))
		if err != nil {
			return err
		}
		if !vis.CanSee(prev) {
			continue
		}
		pe := prev.Event
		if r.Redacted {
			pe = pe.Redact()
		}
		out[i].Unsigned["prev_content"] = pe.Content()
		out[i].Unsigned["prev_sender"] = pe.Sender()
	}
	return nil
}

// bundleTarget is an event that may get bundled aggregations.
type bundleTarget struct {
	i        int // index in evs and out
	roomID   string
	redacted bool
	relType  string // the event's own rel_type, if any
}

// addRelations adds m.relations. Following Synapse: state events get
// none (as the spec says); edits and annotations get none (nothing may
// relate to them usefully); events in a thread get no thread summary of
// their own; a redacted event gets no m.replace.
func (s *Service) addRelations(ctx context.Context, evs []*Stored, out []ClientEvent, redactedBy map[string]string,
	vs *visibilities, viewer Viewer, withRoomID bool) error {
	byRoom := map[string][]bundleTarget{}
	for i, e := range evs {
		if e.IsState() {
			continue
		}
		_, relType := relationOf(out[i].Content) // a redacted event has lost its relation
		if relType == "m.replace" || relType == "m.annotation" {
			continue
		}
		_, redacted := redactedBy[e.EventID()]
		roomID := RoomIDOf(e.Event)
		byRoom[roomID] = append(byRoom[roomID], bundleTarget{i: i, roomID: roomID, redacted: redacted, relType: relType})
	}
	for roomID, targets := range byRoom {
		parents := make([]string, len(targets))
		for j, t := range targets {
			parents[j] = evs[t.i].EventID()
		}
		children, err := s.db.ChildRelations(ctx, roomID, parents, aggregatedRelTypes)
		if err != nil {
			return err
		}
		if len(children) == 0 {
			continue
		}
		vis, err := vs.of(ctx, roomID)
		if err != nil {
			return err
		}
		if !vs.ignoredLoaded {
			if vs.ignored, err = s.db.IgnoredUsers(ctx, viewer.UserID); err != nil {
				return err
			}
			vs.ignoredLoaded = true
		}
		byParent := map[string][]store.Relation{}
		for _, c := range children {
			// Children from ignored users are not aggregated ("Aggregations
			// of child events"): not counted, not the latest event.
			if vis.canSeeMessageAt(c.StreamPos) && !vs.ignored[c.Sender] {
				byParent[c.Parent] = append(byParent[c.Parent], c)
			}
		}
		if err := s.bundleRoom(ctx, evs, out, targets, byParent, vs, viewer, withRoomID); err != nil {
			return err
		}
	}
	return nil
}

// threadSummary is the m.thread aggregation before its latest event is
// formatted.
type threadSummary struct {
	latest       string
	count        int
	participated bool
}

// bundleRoom builds the aggregations of one room's targets from their
// visible children.
func (s *Service) bundleRoom(ctx context.Context, evs []*Stored, out []ClientEvent, targets []bundleTarget,
	byParent map[string][]store.Relation, vs *visibilities, viewer Viewer, withRoomID bool) error {
	threads := map[int]threadSummary{} // target index → its thread
	refs := map[int][]map[string]string{}
	editable := map[int][]store.Relation{} // target index → its edit candidates
	var toFormat []string
	for _, t := range targets {
		parent := evs[t.i]
		kids := byParent[parent.EventID()]
		if len(kids) == 0 {
			continue
		}
		if cands := editCandidates(parent, kids); len(cands) > 0 && !t.redacted {
			editable[t.i] = cands
		}
		if t.relType != "m.thread" {
			ts := threadSummary{participated: parent.Sender() == viewer.UserID}
			for _, k := range kids { // oldest first: the last is the latest
				if k.RelType == "m.thread" {
					ts.count++
					ts.latest = k.EventID
					ts.participated = ts.participated || k.Sender == viewer.UserID
				}
			}
			if ts.count > 0 {
				threads[t.i] = ts
				toFormat = append(toFormat, ts.latest)
			}
		}
		for _, k := range kids {
			if k.RelType == "m.reference" {
				refs[t.i] = append(refs[t.i], map[string]string{"event_id": k.EventID})
			}
		}
	}
	edits, err := s.latestEdits(ctx, editable)
	if err != nil {
		return err
	}
	for _, e := range edits {
		toFormat = append(toFormat, e)
	}
	formatted, err := s.formatByID(ctx, toFormat, vs, viewer, withRoomID)
	if err != nil {
		return err
	}
	for _, t := range targets {
		rel := map[string]any{}
		if c, ok := formatted[edits[t.i]]; ok {
			rel["m.replace"] = c
		}
		if ts, ok := threads[t.i]; ok {
			if c, ok := formatted[ts.latest]; ok {
				rel["m.thread"] = map[string]any{"latest_event": c, "count": ts.count, "current_user_participated": ts.participated}
			}
		}
		if r := refs[t.i]; len(r) > 0 {
			rel["m.reference"] = map[string]any{"chunk": r}
		}
		if len(rel) > 0 {
			out[t.i].Unsigned["m.relations"] = rel
		}
	}
	return nil
}

// formatByID formats bundled events for the viewer, with their own
// aggregations: a thread's latest event shows its edits. The events are
// children found by ChildRelations, so none is redacted or a state event.
// The recursion ends after two levels: a thread's latest event gets no
// thread summary (it is in a thread), and an edit gets no aggregations.
func (s *Service) formatByID(ctx context.Context, ids []string, vs *visibilities, viewer Viewer, withRoomID bool) (map[string]ClientEvent, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	loaded, err := s.Events(ctx, ids)
	if err != nil {
		return nil, err
	}
	now := time.Now().UnixMilli()
	evs := make([]*Stored, 0, len(loaded))
	formatted := make([]ClientEvent, 0, len(loaded))
	for _, e := range loaded {
		c := s.clientEvent(e, nil, now, withRoomID)
		if e.TxnID != "" && e.SenderDevice == viewer.DeviceID && e.Sender() == viewer.UserID {
			c.Unsigned["transaction_id"] = e.TxnID
		}
		evs, formatted = append(evs, e), append(formatted, c)
	}
	if err := s.addRelations(ctx, evs, formatted, nil, vs, viewer, withRoomID); err != nil {
		return nil, err
	}
	out := make(map[string]ClientEvent, len(formatted))
	for _, c := range formatted {
		out[c.EventID] = c
	}
	return out, nil
}

// editCandidates returns the children of parent that may replace it
// ("Validity of replacement events": same sender, same type; ChildRelations
// already ensures the same room and no state key), most recent first: by
// origin_server_ts, then the larger event ID ("Server-side aggregation of
// m.replace relationships"). Whether each has m.new_content is checked on
// its content.
func editCandidates(parent *Stored, kids []store.Relation) []store.Relation {
	var cands []store.Relation
	for _, k := range kids {
		if k.RelType == "m.replace" && k.Sender == parent.Sender() && k.Type == parent.Type() {
			cands = append(cands, k)
		}
	}
	sort.Slice(cands, func(i, j int) bool {
		if cands[i].OriginServerTS != cands[j].OriginServerTS {
			return cands[i].OriginServerTS > cands[j].OriginServerTS
		}
		return cands[i].EventID > cands[j].EventID
	})
	return cands
}

// latestEdits returns, for each target, its most recent valid edit among
// its candidates. The most recent candidates are loaded together; an
// invalid one (no m.new_content) makes the next be loaded.
func (s *Service) latestEdits(ctx context.Context, cands map[int][]store.Relation) (map[int]string, error) {
	out := map[int]string{}
	for len(cands) > 0 {
		var ids []string
		for _, cs := range cands {
			ids = append(ids, cs[0].EventID)
		}
		loaded, err := s.Events(ctx, ids)
		if err != nil {
			return nil, err
		}
		next := map[int][]store.Relation{}
		for i, cs := range cands {
			c := cs[0]
			// An encrypted edit's m.new_content is in its ciphertext, out of
			// the server's sight.
			if e := loaded[c.EventID]; e != nil && (c.Type == "m.room.encrypted" || hasNewContent(e.Content())) {
				out[i] = c.EventID
			} else if len(cs) > 1 {
				next[i] = cs[1:]
			}
		}
		cands = next
	}
	return out, nil
}

// hasNewContent reports whether content has an m.new_content object.
func hasNewContent(content json.RawMessage) bool {
	var c struct {
		NewContent json.RawMessage `json:"m.new_content"`
	}
	if json.Unmarshal(content, &c) != nil {
		return false
	}
	return bytes.HasPrefix(bytes.TrimSpace(c.NewContent), []byte("{"))
}

package auth

import (
	"chappe.eu/chappe/internal/room/event"
)

// JoinAuthorisedVia reports whether ev is an m.room.member event of a room
// version with restricted joins (v8+) whose content has the key
// join_authorised_via_users_server, and returns its value ("" when it is not
// a string). When ok, the caller must check that the event is validly signed
// by the server of that user (rule 4.2 of v8–v11, 5.2 of v12), and reject it
// if the value names no server; Check does not verify signatures.
func JoinAuthorisedVia(ev *event.Event) (userID string, ok bool) {
	if !ev.Version().RestrictedJoin || ev.Type() != "m.room.member" {
		return "", false
	}
	raw := field(ev.Content(), "join_authorised_via_users_server")
	if raw == nil {
		return "", false
	}
	s, _ := stringValue(raw)
	return s, true
}

// checkMember applies the m.room.member rule (5 in v1–v5 and v12, 4 in
// v6–v11). Sub-rules after 4.1 shift by one from v8, which inserted the
// join_authorised_via_users_server signature rule as 4.2.
func (c *checker) checkMember() error {
	ev, v, r := c.ev, c.v, c.lay.member
	mc := parseMemberContent(ev.Content())
	sk := ev.StateKey()
	if sk == nil || mc.Membership == nil {
		return c.reject(r, ".1", "m.room.member needs a state_key and content.membership")
	}
	target, sender := *sk, ev.Sender()
	shift := 0
	if v.RestrictedJoin {
		shift = 1
	}
	sub := func(n int, rest string) string { return "." + itoa(n+shift) + rest }
	membership, _ := stringValue(mc.Membership)

	switch membership {
	case "join":
		return c.checkJoin(target, mc, sub)
	case "invite":
		return c.checkInvite(target, mc, sub)
	case "leave":
		senderM := c.membership(sender)
		if sender == target {
			if senderM == "invite" || senderM == "join" || v.Knock && senderM == "knock" {
				return nil
			}
			return c.reject(r, sub(4, ".1"), "cannot leave with membership %q", orNone(senderM))
		}
		if senderM != "join" {
			return c.reject(r, sub(4, ".2"), "sender's membership is %q, not join", orNone(senderM))
		}
		pl := c.powerLevels()
		sl, tl := pl.UserLevel(sender), pl.UserLevel(target)
		if c.membership(target) == "ban" && sl < pl.Ban {
			return c.reject(r, sub(4, ".3"), "unbanning needs the ban level %d; sender has %d", pl.Ban, sl)
		}
		if sl >= pl.Kick && tl < sl {
			return nil
		}
		return c.reject(r, sub(4, ".5"), "kicking needs the kick level %d and more than the target's %d; sender has %d", pl.Kick, tl, sl)
	case "ban":
		if m := c.membership(sender); m != "join" {
			return c.reject(r, sub(5, ".1"), "sender's membership is %q, not join", orNone(m))
		}
		pl := c.powerLevels()
		sl, tl := pl.UserLevel(sender), pl.UserLevel(target)
		if sl >= pl.Ban && tl < sl {
			return nil
		}
		return c.reject(r, sub(5, ".3"), "banning needs the ban level %d and more than the target's %d; sender has %d", pl.Ban, tl, sl)
	case "knock":
		if !v.Knock {
			break
		}
		if jr := c.joinRule(); jr != "knock" && !(v.KnockRestricted && jr == "knock_restricted") {
			return c.reject(r, sub(6, ".1"), "join rule %q does not allow knocking", jr)
		}
		if sender != target {
			return c.reject(r, sub(6, ".2"), "sender %s does not match state_key", sender)
		}
		if m := c.membership(sender); m != "ban" && m != "invite" && m != "join" {
			return nil
		}
		return c.reject(r, sub(6, ".4"), "cannot knock with membership %q", c.membership(sender))
	}
	unknown := 6
	if v.Knock {
		unknown = 7
	}
	return c.reject(r, sub(unknown, ""), "unknown membership %s", clip(mc.Membership))
}

// checkJoin applies the membership=join rules (5.2 in v1–v5, 4.2 in v6–v7,
// 4.3 in v8–v11, 5.3 in v12).
func (c *checker) checkJoin(target string, mc memberContent, sub func(int, string) string) error {
	ev, v, r := c.ev, c.v, c.lay.member
	prev := ev.PrevEventIDs()
	if len(prev) == 1 && prev[0] == c.create.createEvent.EventID() &&
		len(c.create.creators) > 0 && target == c.create.creators[0] {
		return nil
	}
	if ev.Sender() != target {
		return c.reject(r, sub(2, ".2"), "sender %s cannot join %s", ev.Sender(), target)
	}
	m := c.membership(target)
	if m == "ban" {
		return c.reject(r, sub(2, ".3"), "sender is banned")
	}
	jr := c.joinRule()
	if jr == "invite" || v.Knock && jr == "knock" {
		if m == "invite" || m == "join" {
			return nil
		}
		return c.reject(r, sub(2, ".4"), "join rule %q needs an invite; membership is %q", jr, orNone(m))
	}
	otherwise := 6
	if v.RestrictedJoin {
		otherwise = 7
		if jr == "restricted" || v.KnockRestricted && jr == "knock_restricted" {
			if m == "join" || m == "invite" {
				return nil
			}
			via, _ := stringValue(mc.JoinAuthorisedVia)
			pl := c.powerLevels()
			if mc.JoinAuthorisedVia == nil || c.membership(via) != "join" || pl.UserLevel(via) < pl.Invite {
				return c.reject(r, sub(2, ".5.2"), "join_authorised_via_users_server %s is not a joined member able to invite",
					clip(mc.JoinAuthorisedVia))
			}
			return nil
		}
	}
	if jr == "public" {
		return nil
	}
	return c.reject(r, sub(2, "."+itoa(otherwise)), "join rule %q does not allow joining", jr)
}

// checkInvite applies the membership=invite rules, third-party invites
// included.
func (c *checker) checkInvite(target string, mc memberContent, sub func(int, string) string) error {
	ev, r := c.ev, c.lay.member
	targetM := c.membership(target)
	if mc.ThirdPartyInvite != nil {
		rule := func(n int) string { return sub(3, ".1."+itoa(n)) }
		if targetM == "ban" {
			return c.reject(r, rule(1), "target is banned")
		}
		signed := field(mc.ThirdPartyInvite, "signed")
		if signed == nil {
			return c.reject(r, rule(2), "third_party_invite has no signed")
		}
		rawMXID, rawToken := field(signed, "mxid"), field(signed, "token")
		if rawMXID == nil || rawToken == nil {
			return c.reject(r, rule(3), "signed needs mxid and token")
		}
		if mxid, ok := stringValue(rawMXID); !ok || mxid != target {
			return c.reject(r, rule(4), "signed.mxid %s does not match state_key", clip(rawMXID))
		}
		token, _ := stringValue(rawToken)
		tpi := c.state[event.StateKeyTuple{Type: "m.room.third_party_invite", StateKey: token}]
		if _, ok := stringValue(rawToken); !ok || tpi == nil {
			return c.reject(r, rule(5), "no m.room.third_party_invite with token %s", clip(rawToken))
		}
		if tpi.Sender() != ev.Sender() {
			return c.reject(r, rule(6), "the m.room.third_party_invite was sent by %s", tpi.Sender())
		}
		if verifySignedByAny(signed, tpi.Content()) {
			return nil
		}
		return c.reject(r, rule(8), "no signature in signed matches a public key of the m.room.third_party_invite")
	}
	if m := c.membership(ev.Sender()); m != "join" {
		return c.reject(r, sub(3, ".2"), "sender's membership is %q, not join", orNone(m))
	}
	if targetM == "join" || targetM == "ban" {
		return c.reject(r, sub(3, ".3"), "target's membership is %s", targetM)
	}
	pl := c.powerLevels()
	if sl := pl.UserLevel(ev.Sender()); sl < pl.Invite {
		return c.reject(r, sub(3, ".5"), "inviting needs the invite level %d; sender has %d", pl.Invite, sl)
	}
	return nil
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return string(rune('0'+n/10)) + string(rune('0'+n%10))
}

package rooms

import (
	"context"

	"chappe.eu/chappe/internal/matrix"
	"chappe.eu/chappe/internal/room/auth"
	"chappe.eu/chappe/internal/room/event"
)

// checkSend applies to a local event the checks of the client-server API
// that the authorization rules leave to the sending server. Send calls it
// with the room locked and b.state holding the auth state of the event.
func (s *Service) checkSend(ctx context.Context, b *builder, req SendRequest) error {
	if err := s.checkEncryption(ctx, req); err != nil { // encryption.go
		return err
	}
	if req.Type == "m.room.redaction" && req.StateKey == nil {
		if err := s.checkRedaction(ctx, b, req); err != nil {
			return err
		}
	}
	return s.checkRelation(ctx, req)
}

// checkRedaction decides whether a local user may redact an event
// ("Redactions"): only an event of the same room; their own events, or
// anyone's with the room's redact power level. From room version 3 the
// authorization rules no longer decide this (the receiving server does,
// see auth.RedactionAllowed), so the sending server must. Like Synapse,
// the m.room.create and m.room.server_acl events cannot be redacted.
//
// An unknown event and an event of another room get the same 404, so
// that nobody learns about events of rooms they are not in. (Synapse
// answers 400 for another room's event, and lets users with the redact
// level redact events it does not know: with federation, a redaction may
// arrive before its target. A local client has no such reason.)
func (s *Service) checkRedaction(ctx context.Context, b *builder, req SendRequest) error {
	if req.Redacts == "" {
		return matrix.BadJSON("A redaction needs the ID of the event it redacts in redacts")
	}
	evs, err := s.Events(ctx, []string{req.Redacts})
	if err != nil {
		return err
	}
	target := evs[req.Redacts]
	if target == nil || RoomIDOf(target.Event) != req.RoomID {
		return matrix.NotFound("Event not found")
	}
	switch target.Type() {
	case "m.room.create", "m.room.server_acl":
		if target.IsState() {
			return matrix.Forbidden("Redacting %s events is not permitted", target.Type())
		}
	}
	create := b.state[event.StateKeyTuple{Type: "m.room.create"}]
	pl, _ := auth.ParsePowerLevels(create, b.state[event.StateKeyTuple{Type: "m.room.power_levels"}])
	if target.Sender() != req.Sender && pl.UserLevel(req.Sender) < pl.Redact {
		return matrix.Forbidden("You don't have permission to redact events")
	}
	return nil
}

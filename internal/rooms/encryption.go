package rooms

import (
	"context"
	"encoding/json"

	"chappe.eu/chappe/internal/matrix"
)

// Encryption policy. The authorization rules let anyone with the power
// level replace m.room.encryption, or redact it (which strips the
// algorithm), and clients then stop encrypting or disagree about whether
// to. This server promises encrypted rooms stay encrypted, so it refuses
// both for its own users.

// NOTSPEC: refusing a valid m.room.encryption change or redaction is a
// server policy the spec does not state; clients are told "Encryption
// cannot be disabled" by their own code anyway, and Synapse accepts it.

// encryptionAlgorithm returns an m.room.encryption content's algorithm.
func encryptionAlgorithm(content json.RawMessage) string {
	var c struct {
		Algorithm string `json:"algorithm"`
	}
	_ = json.Unmarshal(content, &c)
	return c.Algorithm
}

// checkEncryption refuses an event that would turn a room's encryption
// off once on: an m.room.encryption event without the current algorithm
// (rotation periods may change), or a redaction of the current one.
func (s *Service) checkEncryption(ctx context.Context, req SendRequest) error {
	state := req.Type == "m.room.encryption" && req.StateKey != nil && *req.StateKey == ""
	redaction := req.Type == "m.room.redaction" && req.StateKey == nil && req.Redacts != ""
	if !state && !redaction {
		return nil
	}
	key := [2]string{"m.room.encryption", ""}
	ids, err := s.db.CurrentStateIDs(ctx, req.RoomID, [][2]string{key})
	if err != nil {
		return err
	}
	id, ok := ids[key]
	if !ok {
		return nil // not encrypted: nothing to keep
	}
	if redaction {
		if req.Redacts == id {
			return matrix.Forbidden("Encryption cannot be disabled once enabled: the m.room.encryption event cannot be redacted")
		}
		return nil
	}
	evs, err := s.Events(ctx, []string{id})
	if err != nil {
		return err
	}
	cur := evs[id]
	if cur == nil {
		return nil
	}
	if alg := encryptionAlgorithm(cur.Content()); alg != "" && encryptionAlgorithm(req.Content) != alg {
		return matrix.Forbidden("Encryption cannot be disabled or its algorithm changed once enabled")
	}
	return nil
}

// requireEncryption is the creation side of the policy: when the operator
// requires encryption in private rooms and direct chats, an initial_state
// m.room.encryption without an algorithm, which would create such a room
// unencrypted, is refused.
func requireEncryption(req CreateRequest, opts Options) error {
	if !opts.EncryptPrivate || (req.Preset == "public_chat" && !req.IsDirect) {
		return nil
	}
	for _, st := range req.InitialState {
		if st.Type == "m.room.encryption" && st.StateKey == "" && encryptionAlgorithm(st.Content) == "" {
			return matrix.InvalidParam("This server requires encryption in private rooms and direct chats: m.room.encryption needs an algorithm")
		}
	}
	return nil
}

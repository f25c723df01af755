package event

import (
	"bytes"
	"testing"

	"chappe.eu/chappe/internal/room/canonicaljson"
)

// FuzzParseEvent checks that Parse never panics and that what it accepts is
// consistent: JSON() is canonical and within the size limit, parsing JSON()
// or PDU() again gives the same event, and redaction keeps the event valid
// with the same ID.
func FuzzParseEvent(f *testing.F) {
	f.Add([]byte(synapseCreate), "4")
	for _, tt := range eventSigningVectors {
		f.Add([]byte(tt.want), "1")
	}
	for _, v := range allVersions(f) {
		f.Add(pdu(f, v, map[string]any{"type": "m.room.member", "state_key": "@a:b",
			"content": map[string]any{"membership": "join", "third_party_invite": map[string]any{"signed": 1}}}), v.ID)
		f.Add(pdu(f, v, map[string]any{"type": "m.room.redaction", "redacts": "$x"}), v.ID)
	}
	f.Fuzz(func(t *testing.T, raw []byte, versionID string) {
		v, ok := Version(versionID)
		if !ok {
			return
		}
		ev, err := Parse(raw, v)
		if err != nil {
			return
		}
		if len(ev.JSON()) > MaxPDUSize || !bytes.Equal(mustEncode(t, ev.JSON(), v), ev.JSON()) {
			t.Fatalf("JSON() = %s is not canonical or too large", ev.JSON())
		}
		for _, b := range [][]byte{ev.JSON(), ev.PDU()} {
			again, err := Parse(b, v)
			if err != nil || again.EventID() != ev.EventID() || !bytes.Equal(again.JSON(), ev.JSON()) {
				t.Fatalf("Parse(%s) = %v; want the same event %s", b, err, ev.EventID())
			}
		}
		r := ev.Redact() // panics if the redacted event does not parse
		if r.EventID() != ev.EventID() {
			t.Fatalf("Redact() changed the event ID from %s to %s", ev.EventID(), r.EventID())
		}
		_ = ev.VerifyContentHash()
		_ = ev.RequiredSigners()
	})
}

func mustEncode(t *testing.T, b []byte, v *RoomVersion) []byte {
	out, err := canonicaljson.Encode(b, v.StrictCanonicalJSON)
	if err != nil {
		t.Fatalf("Encode(JSON()) = %v", err)
	}
	return out
}

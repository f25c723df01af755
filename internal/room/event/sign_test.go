package event

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"chappe.eu/chappe/internal/matrix"
	"chappe.eu/chappe/internal/room/canonicaljson"
	"chappe.eu/chappe/internal/room/signing"
)

// keyring holds test keys, one per server, all with key ID "ed25519:1".
type keyring map[matrix.ServerName]ed25519.PrivateKey

func newKeyring(servers ...matrix.ServerName) keyring {
	k := keyring{}
	for i, s := range servers {
		seed := make([]byte, 32)
		seed[0] = byte(i + 1)
		k[s] = ed25519.NewKeyFromSeed(seed)
	}
	return k
}

func (k keyring) lookup(server matrix.ServerName, keyID signing.KeyID) (VerifyKey, bool) {
	if priv, ok := k[server]; ok && keyID == "ed25519:1" {
		return VerifyKey{Key: priv.Public().(ed25519.PublicKey)}, true
	}
	return VerifyKey{}, false
}

func message(v *RoomVersion) Proto {
	p := Proto{
		Type:           "m.room.message",
		Sender:         "@alice:a.example",
		RoomID:         "!room:a.example",
		Content:        json.RawMessage(`{"msgtype": "m.text", "body": "hello <world> & \u00e9"}`),
		PrevEvents:     []matrix.EventID{"$prev:a.example"},
		AuthEvents:     []matrix.EventID{"$create:a.example", "$member:a.example"},
		Depth:          12,
		OriginServerTS: 1700000000000,
	}
	if v.HashRoomIDs {
		p.RoomID = "!Nhcu5BS-UMnFX7hBVfVSoXiD7OgH6iRT-xyIuqDnpYQ"
	}
	return p
}

func TestBuildAndVerify(t *testing.T) {
	keys := newKeyring("a.example")
	for _, v := range allVersions(t) {
		ev, err := Build(message(v), v, "a.example", "ed25519:1", keys["a.example"])
		if err != nil {
			t.Fatalf("v%s: Build: %v", v.ID, err)
		}
		if err := ev.VerifyContentHash(); err != nil {
			t.Errorf("v%s: VerifyContentHash() = %v", v.ID, err)
		}
		if err := ev.VerifySignatures(keys.lookup); err != nil {
			t.Errorf("v%s: VerifySignatures() = %v", v.ID, err)
		}
		if got := string(ev.Content()); got != `{"body":"hello <world> & é","msgtype":"m.text"}` {
			t.Errorf("v%s: Content() = %s", v.ID, got)
		}
		if _, has := canonicaljson.Get(ev.JSON(), "origin"); has != !v.RedactsInContent {
			t.Errorf("v%s: top-level origin present = %v; want %v", v.ID, has, !v.RedactsInContent)
		}
		// The event survives a round trip through its JSON, with the same ID.
		again, err := Parse(ev.PDU(), v)
		if err != nil || again.EventID() != ev.EventID() {
			t.Errorf("v%s: Parse(Build().PDU()) = %v, %v; want ID %s", v.ID, again, err, ev.EventID())
		}
		// A signature on the redacted form still verifies after redaction,
		// though the content hash then no longer matches.
		r := ev.Redact()
		if err := r.VerifySignatures(keys.lookup); err != nil {
			t.Errorf("v%s: redacted VerifySignatures() = %v", v.ID, err)
		}
		if err := r.VerifyContentHash(); !errors.Is(err, ErrContentHash) {
			t.Errorf("v%s: redacted VerifyContentHash() = %v; want ErrContentHash", v.ID, err)
		}
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	keys := newKeyring("a.example", "b.example")
	for _, v := range allVersions(t) {
		ev, _ := Build(message(v), v, "a.example", "ed25519:1", keys["a.example"])
		for _, tt := range []struct {
			name    string
			key     string
			value   string
			sigErr  error // from VerifySignatures, nil for success
			hashErr bool  // whether VerifyContentHash fails
		}{
			// Content is covered by the content hash only.
			{"content", "content", `{"body":"forged","msgtype":"m.text"}`, nil, true},
			// Essential keys are covered by the signature.
			{"depth", "depth", `13`, signing.ErrBadSignature, true},
			{"sender", "sender", `"@mallory:a.example"`, signing.ErrBadSignature, true},
			{"sender's server", "sender", `"@alice:b.example"`, signing.ErrNotSigned, true},
			{"hashes", "hashes", `{"sha256":"AAAA"}`, signing.ErrBadSignature, true},
			{"no signatures", "signatures", `{}`, signing.ErrNotSigned, false},
		} {
			raw := canonicaljson.Set(ev.JSON(), tt.key, []byte(tt.value))
			forged, err := Parse(raw, v)
			if err != nil {
				t.Fatalf("v%s %s: Parse: %v", v.ID, tt.name, err)
			}
			if err := forged.VerifySignatures(keys.lookup); !errors.Is(err, tt.sigErr) {
				t.Errorf("v%s: forged %s: VerifySignatures() = %v; want %v", v.ID, tt.name, err, tt.sigErr)
			}
			if err := forged.VerifyContentHash(); (err != nil) != tt.hashErr {
				t.Errorf("v%s: forged %s: VerifyContentHash() = %v; want failure %v", v.ID, tt.name, err, tt.hashErr)
			}
		}
	}
}

func TestVerifyKeyValidity(t *testing.T) {
	keys := newKeyring("a.example")
	pub := keys["a.example"].Public().(ed25519.PublicKey)
	const ts = 1700000000000
	for _, tt := range []struct {
		version string
		key     VerifyKey
		want    error
	}{
		{"4", VerifyKey{Key: pub, ValidUntilTS: ts - 1}, nil}, // not enforced before v5
		{"5", VerifyKey{Key: pub, ValidUntilTS: ts - 1}, signing.ErrUnknownKey},
		{"5", VerifyKey{Key: pub, ValidUntilTS: ts}, nil},
		{"12", VerifyKey{Key: pub, ValidUntilTS: ts + 1}, nil},
		{"1", VerifyKey{Key: pub, ExpiredTS: ts - 1}, signing.ErrUnknownKey},
		{"12", VerifyKey{Key: pub, ExpiredTS: ts}, nil},
	} {
		v := mustVersion(t, tt.version)
		ev, _ := Build(message(v), v, "a.example", "ed25519:1", keys["a.example"])
		lookup := func(matrix.ServerName, signing.KeyID) (VerifyKey, bool) { return tt.key, true }
		if err := ev.VerifySignatures(lookup); !errors.Is(err, tt.want) {
			t.Errorf("v%s key %+v: VerifySignatures() = %v; want %v", tt.version, tt.key, err, tt.want)
		}
	}
}

func TestRequiredSigners(t *testing.T) {
	for _, tt := range []struct {
		versions string
		change   map[string]any
		want     string
	}{
		{"", nil, "a.example"},
		{"1-2", map[string]any{"event_id": "$x:b.example"}, "a.example b.example"},
		{"3-", map[string]any{"event_id": "$x:b.example"}, "a.example"},
		// A restricted join must also be signed by the authorising server.
		{"8-", map[string]any{"type": "m.room.member", "state_key": "@alice:a.example",
			"content": map[string]any{"membership": "join", "join_authorised_via_users_server": "@bob:b.example"}}, "a.example b.example"},
		{"1-7", map[string]any{"type": "m.room.member", "state_key": "@alice:a.example",
			"content": map[string]any{"membership": "join", "join_authorised_via_users_server": "@bob:b.example"}}, "a.example"},
		{"8-", map[string]any{"type": "m.room.member", "state_key": "@alice:a.example",
			"content": map[string]any{"membership": "join", "join_authorised_via_users_server": 5}}, "a.example"},
		// An invite from a third-party invite may come from another server.
		{"3-", map[string]any{"type": "m.room.member", "state_key": "@carol:c.example",
			"content": map[string]any{"membership": "invite", "third_party_invite": map[string]any{}}}, ""},
		{"", map[string]any{"type": "m.room.member", "state_key": "@carol:c.example",
			"content": map[string]any{"membership": "join", "third_party_invite": map[string]any{}}}, "a.example"},
	} {
		for _, v := range allVersions(t) {
			if !inVersions(tt.versions, v.ID) {
				continue
			}
			ev, err := Parse(pdu(t, v, tt.change), v)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range ev.RequiredSigners() {
				got = append(got, string(s))
			}
			if strings.Join(got, " ") != tt.want {
				t.Errorf("v%s %v: RequiredSigners() = %v; want %s", v.ID, tt.change, got, tt.want)
			}
		}
	}
}

func TestCountersign(t *testing.T) {
	keys := newKeyring("a.example", "b.example")
	for _, v := range allVersions(t) {
		p := message(v)
		p.Type, p.StateKey = "m.room.member", ptr("@alice:a.example")
		p.Content = json.RawMessage(`{"membership":"join","join_authorised_via_users_server":"@bob:b.example"}`)
		ev, err := Build(p, v, "a.example", "ed25519:1", keys["a.example"])
		if err != nil {
			t.Fatal(err)
		}
		err = ev.VerifySignatures(keys.lookup)
		if v.RestrictedJoin != errors.Is(err, signing.ErrNotSigned) {
			t.Errorf("v%s: VerifySignatures() before countersigning = %v", v.ID, err)
		}
		signed, err := ev.Sign("b.example", "ed25519:1", keys["b.example"])
		if err != nil {
			t.Fatal(err)
		}
		if err := signed.VerifySignatures(keys.lookup); err != nil {
			t.Errorf("v%s: VerifySignatures() after countersigning = %v", v.ID, err)
		}
		if signed.EventID() != ev.EventID() {
			t.Errorf("v%s: countersigning changed the event ID", v.ID)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestBuildShapes(t *testing.T) {
	keys := newKeyring("a.example")
	key := keys["a.example"]

	// Version 12: a create event has no room_id; its room is its hash.
	v12 := mustVersion(t, "12")
	create, err := Build(Proto{Type: "m.room.create", StateKey: ptr(""), Sender: "@alice:a.example",
		Content: json.RawMessage(`{"room_version":"12"}`), Depth: 1, OriginServerTS: 1}, v12, "a.example", "ed25519:1", key)
	if err != nil {
		t.Fatal(err)
	}
	if _, has := canonicaljson.Get(create.JSON(), "room_id"); has || !matrix.RoomID(create.CreatedRoomID()).IsHashBased() {
		t.Errorf("v12 create: JSON() = %s, CreatedRoomID() = %s", create.JSON(), create.CreatedRoomID())
	}
	if _, err := matrix.ParseRoomID(create.CreatedRoomID()); err != nil {
		t.Errorf("v12 CreatedRoomID() = %s: %v", create.CreatedRoomID(), err)
	}

	// Redactions carry redacts where the version wants it.
	for _, id := range []string{"10", "11"} {
		v := mustVersion(t, id)
		p := message(v)
		p.Type, p.Redacts, p.Content = "m.room.redaction", "$target:a.example", nil
		ev, err := Build(p, v, "a.example", "ed25519:1", key)
		if err != nil {
			t.Fatal(err)
		}
		_, top := canonicaljson.Get(ev.JSON(), "redacts")
		_, inContent := canonicaljson.Get(ev.Content(), "redacts")
		if ev.Redacts() != "$target:a.example" || top == v.RedactsInContent || inContent != v.RedactsInContent {
			t.Errorf("v%s redaction: %s", id, ev.JSON())
		}
	}

	// Versions 1 and 2 write [ID, {sha256}] pairs and carry an event ID.
	v1 := mustVersion(t, "1")
	p := message(v1)
	p.EventHashes = map[matrix.EventID]string{"$prev:a.example": "cHJldg"}
	ev, err := Build(p, v1, "a.example", "ed25519:1", key)
	if err != nil {
		t.Fatal(err)
	}
	prev, _ := canonicaljson.Get(ev.JSON(), "prev_events")
	if string(prev) != `[["$prev:a.example",{"sha256":"cHJldg"}]]` || !strings.HasSuffix(ev.EventID(), ":a.example") {
		t.Errorf("v1: prev_events = %s, event ID %s", prev, ev.EventID())
	}

	// Depth may exceed 2**53-1 only before room version 6.
	for id, ok := range map[string]bool{"5": true, "6": false} {
		v := mustVersion(t, id)
		p := message(v)
		p.Depth = 1 << 62
		if _, err := Build(p, v, "a.example", "ed25519:1", key); (err == nil) != ok {
			t.Errorf("v%s: Build(depth 2**62) = %v; want ok=%v", id, err, ok)
		}
	}

	// Build refuses what no version allows.
	for name, p := range map[string]Proto{
		"no type":          {Sender: "@a:a.example", RoomID: "!r:a.example"},
		"no room":          {Type: "m.room.message", Sender: "@a:a.example"},
		"float":            {Type: "m.room.message", Sender: "@a:a.example", RoomID: "!r:a.example", Content: json.RawMessage(`{"x":1.5}`)},
		"content an array": {Type: "m.room.message", Sender: "@a:a.example", RoomID: "!r:a.example", Content: json.RawMessage(`[]`)},
		"bad sender":       {Type: "m.room.message", Sender: "alice", RoomID: "!r:a.example"},
		"too big":          {Type: "m.room.message", Sender: "@a:a.example", RoomID: "!r:a.example", Content: json.RawMessage(`{"x":"` + strings.Repeat("x", MaxPDUSize) + `"}`)},
		"v12 create with room": {Type: "m.room.create", StateKey: ptr(""), Sender: "@a:a.example",
			RoomID: "!r:a.example"},
	} {
		if ev, err := Build(p, v12, "a.example", "ed25519:1", key); err == nil {
			t.Errorf("Build(%s) = %s; want error", name, ev.JSON())
		}
	}
}

func TestAddContentHashKeepsOtherHashes(t *testing.T) {
	v := mustVersion(t, "12")
	got, err := AddContentHash(pdu(t, v, map[string]any{"hashes": map[string]string{"sha512": "x", "sha256": "old"}}), v)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := canonicaljson.Get(got, "hashes")
	sum, _ := ContentHash(got, v)
	if want := fmt.Sprintf(`{"sha256":"%s","sha512":"x"}`, b64std(sum[:])); string(h) != want {
		t.Errorf("hashes = %s; want %s", h, want)
	}
}

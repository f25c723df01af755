package event

import (
	"encoding/json"
	"os"
	"testing"

	"chappe.eu/chappe/internal/matrix"
)

// benchEvent builds a typical signed v12 m.room.message of about 1 KB: the
// content of the canonical JSON benchmark's sample event.
func benchEvent(b *testing.B) (*Event, keyring) {
	data, err := os.ReadFile("../canonicaljson/testdata/event.json")
	if err != nil {
		b.Fatal(err)
	}
	var sample struct{ Content json.RawMessage }
	if err := json.Unmarshal(data, &sample); err != nil {
		b.Fatal(err)
	}
	keys := newKeyring("a.example")
	v := mustVersion(b, "12")
	p := message(v)
	p.Content = sample.Content
	p.AuthEvents = []matrix.EventID{"$7Q0Gmj3zFd1BBhkcoSc_TVu5A6kWR8MX-rfpyRHbcbo",
		"$VP0bmXFbkKEnQyOcMOtSKC5eH8nthGSa-1RlNRFYTfg", "$yo8pHRoPbWQC1eA-rqNKbzrVPh9dwlsyBwD1_vYEYxA"}
	p.PrevEvents = []matrix.EventID{"$Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Zg"}
	ev, err := Build(p, v, "a.example", "ed25519:1", keys["a.example"])
	if err != nil {
		b.Fatal(err)
	}
	return ev, keys
}

// BenchmarkParse: canonical JSON, format checks and the event ID (one
// redaction and SHA-256), from a PDU as received.
func BenchmarkParse(b *testing.B) {
	ev, _ := benchEvent(b)
	raw := ev.PDU()
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(raw, ev.Version()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkContentHashAndEventID: what a received event costs in hashing.
func BenchmarkContentHashAndEventID(b *testing.B) {
	ev, _ := benchEvent(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := ev.VerifyContentHash(); err != nil {
			b.Fatal(err)
		}
		_ = formatEventID(ev.ReferenceHash(), ev.Version())
	}
}

func BenchmarkVerifySignatures(b *testing.B) {
	ev, keys := benchEvent(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := ev.VerifySignatures(keys.lookup); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBuild: hashing, signing (ed25519) and parsing a new event.
func BenchmarkBuild(b *testing.B) {
	ev, keys := benchEvent(b)
	p := message(ev.Version())
	p.Content = ev.Content()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Build(p, ev.Version(), "a.example", "ed25519:1", keys["a.example"]); err != nil {
			b.Fatal(err)
		}
	}
}

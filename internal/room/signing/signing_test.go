package signing

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"testing"

	"chappe.eu/chappe/internal/room/canonicaljson"
)

// The appendix's "Cryptographic Test Vectors" all use this seed, server
// name "domain" and key ID "ed25519:1".
func testKey(t testing.TB) ed25519.PrivateKey {
	seed, err := base64.RawStdEncoding.DecodeString("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1")
	if err != nil {
		t.Fatal(err)
	}
	return ed25519.NewKeyFromSeed(seed)
}

var jsonSigningVectors = []struct{ in, want string }{
	{`{}`, `{
    "signatures": {
        "domain": {
            "ed25519:1": "K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ"
        }
    }
}`},
	{`{
    "one": 1,
    "two": "Two"
}`, `{
    "one": 1,
    "signatures": {
        "domain": {
            "ed25519:1": "KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw"
        }
    },
    "two": "Two"
}`},
}

func TestSignSpecVectors(t *testing.T) {
	key := testKey(t)
	for _, tt := range jsonSigningVectors {
		got, err := Sign([]byte(tt.in), "domain", "ed25519:1", key)
		want, _ := canonicaljson.Encode([]byte(tt.want), true)
		if err != nil || string(got) != string(want) {
			t.Errorf("Sign(%s) = %s, %v; want %s", tt.in, got, err, want)
		}
		if err := Verify([]byte(tt.want), "domain", keysOf(key)); err != nil {
			t.Errorf("Verify(%s) = %v", tt.want, err)
		}
	}
}

func keysOf(key ed25519.PrivateKey) KeyLookup {
	return func(entity string, keyID KeyID) (ed25519.PublicKey, bool) {
		if entity == "domain" && keyID == "ed25519:1" {
			return key.Public().(ed25519.PublicKey), true
		}
		return nil, false
	}
}

func TestSignKeepsOtherSignaturesAndUnsigned(t *testing.T) {
	in := `{"a":1,"signatures":{"other":{"ed25519:x":"abc"},"domain":{"ed25519:0":"old"}},"unsigned":{"age":5}}`
	got, err := Sign([]byte(in), "domain", "ed25519:1", testKey(t))
	if err != nil {
		t.Fatal(err)
	}
	sigs, _ := canonicaljson.Get(got, "signatures")
	domain, _ := canonicaljson.Get(sigs, "domain")
	if _, ok := canonicaljson.Get(sigs, "other"); !ok {
		t.Errorf("Sign dropped another entity's signature: %s", got)
	}
	if _, ok := canonicaljson.Get(domain, "ed25519:0"); !ok {
		t.Errorf("Sign dropped another key's signature: %s", got)
	}
	if u, _ := canonicaljson.Get(got, "unsigned"); string(u) != `{"age":5}` {
		t.Errorf("Sign changed unsigned: %s", got)
	}
	// The signature covers neither signatures nor unsigned; ed25519:0 is an
	// unknown key and skipped.
	if err := Verify(got, "domain", keysOf(testKey(t))); err != nil {
		t.Errorf("Verify(signed) = %v", err)
	}
}

func TestVerifyFailures(t *testing.T) {
	key := testKey(t)
	signed, _ := Sign([]byte(`{"one":1}`), "domain", "ed25519:1", key)
	other := ed25519.NewKeyFromSeed(make([]byte, 32))
	tampered := canonicaljson.Set(signed, "one", []byte("2"))
	badB64 := canonicaljson.Set(signed, "signatures", []byte(`{"domain":{"ed25519:1":"!!!"}}`))
	notString := canonicaljson.Set(signed, "signatures", []byte(`{"domain":{"ed25519:1":1}}`))
	onlyOtherAlg := canonicaljson.Set(signed, "signatures", []byte(`{"domain":{"curve25519:1":"AAAA"}}`))
	for _, tt := range []struct {
		name   string
		obj    []byte
		entity string
		keys   KeyLookup
		want   error
	}{
		{"wrong entity", signed, "elsewhere", keysOf(key), ErrNotSigned},
		{"unknown key", signed, "domain", func(string, KeyID) (ed25519.PublicKey, bool) { return nil, false }, ErrUnknownKey},
		{"wrong key", signed, "domain", keysOf(other), ErrBadSignature},
		{"tampered", tampered, "domain", keysOf(key), ErrBadSignature},
		{"bad base64", badB64, "domain", keysOf(key), ErrBadSignature},
		{"not a string", notString, "domain", keysOf(key), ErrBadSignature},
		{"other algorithm", onlyOtherAlg, "domain", keysOf(key), ErrNotSigned},
	} {
		if err := Verify(tt.obj, tt.entity, tt.keys); !errors.Is(err, tt.want) {
			t.Errorf("Verify(%s) = %v; want %v", tt.name, err, tt.want)
		}
	}
}

func TestVerifyAcceptsPaddedSignature(t *testing.T) {
	key := testKey(t)
	signed, _ := Sign([]byte(`{}`), "domain", "ed25519:1", key)
	sigs, _ := canonicaljson.Get(signed, "signatures")
	d, _ := canonicaljson.Get(sigs, "domain")
	s, _ := canonicaljson.Get(d, "ed25519:1")
	b64, _ := canonicaljson.Unquote(s)
	padded := canonicaljson.Set(signed, "signatures",
		[]byte(`{"domain":{"ed25519:1":"`+b64+`=="}}`))
	if err := Verify(padded, "domain", keysOf(key)); err != nil {
		t.Errorf("Verify(padded signature) = %v", err)
	}
}

func TestParseKeyID(t *testing.T) {
	for in, ok := range map[string]bool{
		"ed25519:1": true, "ed25519:a_JaEG": true, "curve25519:AAAA": true,
		"ed25519": false, ":1": false, "ed25519:": false, "ed25519:a-b": false, "ed25519:a:b": false,
	} {
		k, err := ParseKeyID(in)
		if (err == nil) != ok {
			t.Errorf("ParseKeyID(%q) = %q, %v; want ok=%v", in, k, err, ok)
		}
	}
	if k := KeyID("ed25519:abc"); k.Algorithm() != "ed25519" || k.Version() != "abc" {
		t.Errorf("KeyID parts = %q, %q", k.Algorithm(), k.Version())
	}
}

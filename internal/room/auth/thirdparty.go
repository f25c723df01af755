package auth

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

// objectField returns the value of key in the JSON object raw, or nil when
// raw is not an object or has no such key.
func objectField(raw json.RawMessage, key string) json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	return m[key]
}

// stringValue returns raw as a string if it is a JSON string.
func stringValue(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err == nil
}

// tpiToken returns content.third_party_invite.signed.token, the state key of
// the m.room.third_party_invite event an invite redeems.
func tpiToken(tpi json.RawMessage) (string, bool) {
	return stringValue(objectField(objectField(tpi, "signed"), "token"))
}

type tpiEventContent struct {
	PublicKey  json.RawMessage `json:"public_key"`
	PublicKeys []struct {
		PublicKey json.RawMessage `json:"public_key"`
	} `json:"public_keys"`
}

// verifySignedByAny reports whether any ed25519 signature in signed verifies
// under any of the public keys of the m.room.third_party_invite content.
func verifySignedByAny(signed json.RawMessage, tpiContent json.RawMessage) bool {
	var c tpiEventContent
	_ = json.Unmarshal(tpiContent, &c) // a field of the wrong type is left empty
	var keys []ed25519.PublicKey
	add := func(raw json.RawMessage) {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return
		}
		if b, ok := decodeBase64(s); ok && len(b) == ed25519.PublicKeySize {
			keys = append(keys, ed25519.PublicKey(b))
		}
	}
	add(c.PublicKey)
	for _, k := range c.PublicKeys {
		add(k.PublicKey)
	}
	if len(keys) == 0 {
		return false
	}
	var sigs map[string]map[string]json.RawMessage
	if json.Unmarshal(objectField(signed, "signatures"), &sigs) != nil {
		return false
	}
	msg, err := signedBytes(signed)
	if err != nil {
		return false
	}
	for _, byKey := range sigs {
		for keyID, rawSig := range byKey {
			if !strings.HasPrefix(keyID, "ed25519:") {
				continue
			}
			var s string
			if json.Unmarshal(rawSig, &s) != nil {
				continue
			}
			sig, ok := decodeBase64(s)
			if !ok || len(sig) != ed25519.SignatureSize {
				continue
			}
			for _, k := range keys {
				if ed25519.Verify(k, msg, sig) {
					return true
				}
			}
		}
	}
	return false
}

// decodeBase64 accepts the spec's unpadded base64 and, as identity servers
// have published both, also padded and URL-safe forms.
func decodeBase64(s string) ([]byte, bool) {
	s = strings.TrimRight(s, "=")
	if b, err := base64.RawStdEncoding.DecodeString(s); err == nil {
		return b, true
	}
	if b, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		return b, true
	}
	return nil, false
}

// signedBytes returns the canonical JSON of a signed object without its
// signatures and unsigned keys: the bytes its signatures cover ("Signing
// JSON" in the appendices).
//
// The canonicaljson package is not ready; this is a minimal canonical encoder
// for the small objects identity servers sign. Replace it with
// canonicaljson's when that lands.
func signedBytes(signed json.RawMessage) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(signed))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return nil, err
	}
	delete(obj, "signatures")
	delete(obj, "unsigned")
	var buf bytes.Buffer
	if err := writeCanonical(&buf, obj); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writeCanonical(buf *bytes.Buffer, v any) error {
	switch v := v.(type) {
	case nil:
		buf.WriteString("null")
	case bool:
		if v {
			buf.WriteString("true")
		} else {
			buf.WriteString("false")
		}
	case json.Number:
		if strings.ContainsAny(string(v), ".eE") {
			return fmt.Errorf("canonical JSON forbids %s", v)
		}
		buf.WriteString(string(v))
	case string:
		writeCanonicalString(buf, v)
	case []any:
		buf.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeCanonical(buf, e); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys) // byte order of UTF-8 is code point order
		buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeCanonicalString(buf, k)
			buf.WriteByte(':')
			if err := writeCanonical(buf, v[k]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	default:
		return fmt.Errorf("canonical JSON: unexpected %T", v)
	}
	return nil
}

func writeCanonicalString(buf *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	buf.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			buf.WriteRune(r) // invalid UTF-8 becomes U+FFFD, as json.Unmarshal already did
			i += n
			continue
		}
		switch c {
		case '"':
			buf.WriteString(`\"`)
		case '\\':
			buf.WriteString(`\\`)
		case '\b':
			buf.WriteString(`\b`)
		case '\t':
			buf.WriteString(`\t`)
		case '\n':
			buf.WriteString(`\n`)
		case '\f':
			buf.WriteString(`\f`)
		case '\r':
			buf.WriteString(`\r`)
		default:
			if c < 0x20 {
				buf.WriteString(`\u00`)
				buf.WriteByte(hex[c>>4])
				buf.WriteByte(hex[c&0xf])
			} else {
				buf.WriteByte(c)
			}
		}
		i++
	}
	buf.WriteByte('"')
}

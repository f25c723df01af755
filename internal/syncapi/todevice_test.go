package syncapi_test

import (
	"testing"

	"chappe.eu/chappe/internal/syncapi"
)

// Tokens round-trip; the to-device part is written only when set, so
// tokens without a backlog keep the two-part form.
var tokenTests = []struct {
	tok  syncapi.Token
	text string
}{
	{syncapi.Token{Pos: 12, Typing: 3}, "s12_3"},
	{syncapi.Token{Pos: 12, Typing: 3, ToDevice: 7}, "s12_3_7"},
	{syncapi.Token{}, "s0_0"},
}

func TestTokenToDevice(t *testing.T) {
	for _, tt := range tokenTests {
		if got := tt.tok.String(); got != tt.text {
			t.Errorf("%+v.String() = %q; want %q", tt.tok, got, tt.text)
		}
		if got, err := syncapi.ParseToken(tt.text); err != nil || got != tt.tok {
			t.Errorf("ParseToken(%q) = %+v, %v; want %+v", tt.text, got, err, tt.tok)
		}
	}
	for _, bad := range []string{"s1_2_3_4", "s1_2_-3", "s1_2_x"} {
		if _, err := syncapi.ParseToken(bad); err == nil {
			t.Errorf("ParseToken(%q) succeeded; want an error", bad)
		}
	}
}

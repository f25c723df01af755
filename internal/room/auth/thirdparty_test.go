package auth

import (
	"encoding/json"
	"testing"
)

// Examples from the appendices' "Canonical JSON" section.
var canonicalTests = []struct{ in, want string }{
	{`{}`, `{}`},
	{`{"one": 1, "two": "Two"}`, `{"one":1,"two":"Two"}`},
	{`{"b": "2", "a": "1"}`, `{"a":"1","b":"2"}`},
	{`{"auth": {"success": true, "mxid": "@john.doe:example.com", "profile": {"display_name": "John Doe", "three_pids": [{"medium": "email", "address": "john.doe@example.org"}, {"medium": "msisdn", "address": "123456789"}]}}}`,
		`{"auth":{"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe","three_pids":[{"address":"john.doe@example.org","medium":"email"},{"address":"123456789","medium":"msisdn"}]},"success":true}}`},
	{`{"a": "日本語"}`, `{"a":"日本語"}`},
	{`{"本": 2, "日": 1}`, `{"日":1,"本":2}`},
	{`{"a": "\u65E5"}`, `{"a":"日"}`},
	{`{"a": null}`, `{"a":null}`},
	{`{"a": "\u0000\u0007\u001f\b\t\n\f\r\"\\/"}`, `{"a":"\u0000\u0007\u001f\b\t\n\f\r\"\\/"}`},
	{`{"signatures": {"x": {}}, "unsigned": 1, "k": [1, -2]}`, `{"k":[1,-2]}`},
}

func TestSignedBytes(t *testing.T) {
	for _, tt := range canonicalTests {
		got, err := signedBytes(json.RawMessage(tt.in))
		if err != nil || string(got) != tt.want {
			t.Errorf("signedBytes(%s) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{`[1]`, `{"a":1,"a":2}`, `{`} {
		if _, err := signedBytes(json.RawMessage(bad)); err == nil {
			t.Errorf("signedBytes(%s) = nil error; want one", bad)
		}
	}
}

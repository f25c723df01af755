package httpapi_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"chappe.eu/chappe/internal/httpapi"
	"chappe.eu/chappe/internal/matrix"
)

// loginLike has the shapes of a typical request body: strings, a bool,
// a pointer, a nested object, a list and a number.
type loginLike struct {
	Type       string `json:"type"`
	Identifier *struct {
		Type string `json:"type"`
		User string `json:"user"`
	} `json:"identifier"`
	Password     string   `json:"password"`
	DeviceID     string   `json:"device_id"`
	DisplayName  *string  `json:"initial_device_display_name"`
	RefreshToken bool     `json:"refresh_token"`
	Devices      []string `json:"devices"`
	Limit        *int64   `json:"limit"`
}

var decodeTests = []struct {
	body string
	code string // "" for success
}{
	{``, ""},
	{`   `, ""},
	{`{}`, ""},
	{` {"type":"m.login.password","identifier":{"type":"m.id.user","user":"a"},"refresh_token":true,"limit":5} `, ""},
	{`{"unknown":[1,{"x":null}]}`, ""},
	{`{"type":"\ud800"}`, ""}, // a lone surrogate is valid JSON; Go makes it U+FFFD
	{strings.Repeat(`{"a":`, httpapi.MaxJSONDepth-1) + `1` + strings.Repeat(`}`, httpapi.MaxJSONDepth-1), ""},

	{`not json`, matrix.ErrNotJSON},
	{`{`, matrix.ErrNotJSON},
	{`{"a":1}}`, matrix.ErrNotJSON},
	{`{} {}`, matrix.ErrNotJSON},
	{`{'a':1}`, matrix.ErrNotJSON},
	{`{"a":NaN}`, matrix.ErrNotJSON},
	{"{\"a\":\"\xff\"}", matrix.ErrNotJSON},
	{"\xef\xbb\xbf{}", matrix.ErrNotJSON}, // a byte order mark is not JSON
	{strings.Repeat(`{"a":`, 100) + `1` + strings.Repeat(`}`, 100), matrix.ErrNotJSON},
	{`{"a":` + strings.Repeat(`[`, 100) + strings.Repeat(`]`, 100) + `}`, matrix.ErrNotJSON},

	{`[]`, matrix.ErrBadJSON},
	{`null`, matrix.ErrBadJSON},
	{`"{}"`, matrix.ErrBadJSON},
	{`1`, matrix.ErrBadJSON},
	{`{"type":1}`, matrix.ErrBadJSON},
	{`{"type":null}`, ""}, // null leaves a field alone, as encoding/json does
	{`{"identifier":"@a:b"}`, matrix.ErrBadJSON},
	{`{"identifier":{"user":[]}}`, matrix.ErrBadJSON},
	{`{"refresh_token":"true"}`, matrix.ErrBadJSON},
	{`{"devices":"all"}`, matrix.ErrBadJSON},
	{`{"devices":[1]}`, matrix.ErrBadJSON},
	{`{"limit":1.5}`, matrix.ErrBadJSON},
	{`{"limit":1e400}`, matrix.ErrBadJSON},
	{`{"limit":99999999999999999999}`, matrix.ErrBadJSON},
}

func TestDecodeJSON(t *testing.T) {
	for _, tt := range decodeTests {
		var v loginLike
		err := httpapi.DecodeJSON([]byte(tt.body), &v)
		if got := errcode(t, err); got != tt.code {
			t.Errorf("DecodeJSON(%.60q) = %v; want errcode %q", tt.body, err, tt.code)
		}
	}
}

// errcode checks that err is nil or a 400 *matrix.Error and returns its
// errcode.
func errcode(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	var me *matrix.Error
	if !errors.As(err, &me) {
		t.Fatalf("error %v (%T) is not a *matrix.Error", err, err)
	}
	if me.Status != http.StatusBadRequest {
		t.Fatalf("error %v has status %d; want 400", err, me.Status)
	}
	return me.Code
}

func TestReadJSONLimit(t *testing.T) {
	const limit = 1024
	for _, tt := range []struct {
		body          string
		contentLength int64 // -1: unknown, as with chunked encoding
		code          string
	}{
		{`{}`, 2, ""},
		{`{"a":"` + strings.Repeat("x", limit-8) + `"}`, limit, ""},
		{`{"a":"` + strings.Repeat("x", limit) + `"}`, limit + 8, matrix.ErrTooLarge},
		{`{"a":"` + strings.Repeat("x", limit) + `"}`, -1, matrix.ErrTooLarge},
		{`{}`, limit + 1, matrix.ErrTooLarge}, // an announced length is refused before reading
	} {
		r := httptest.NewRequest("POST", "/", io.NopCloser(strings.NewReader(tt.body)))
		r.ContentLength = tt.contentLength
		var v map[string]any
		err := httpapi.ReadJSON(r, limit, &v)
		var me *matrix.Error
		got := ""
		if errors.As(err, &me) {
			got = me.Code
			if me.Code == matrix.ErrTooLarge && me.Status != http.StatusRequestEntityTooLarge {
				t.Errorf("M_TOO_LARGE with status %d; want 413", me.Status)
			}
		} else if err != nil {
			t.Fatalf("ReadJSON error %v is not a *matrix.Error", err)
		}
		if got != tt.code {
			t.Errorf("ReadJSON(%d bytes, Content-Length %d) = %v; want %q", len(tt.body), tt.contentLength, err, tt.code)
		}
	}
}

// FuzzDecodeJSON: whatever the body, DecodeJSON does not panic and
// answers success, M_NOT_JSON or M_BAD_JSON, all with status 400.
func FuzzDecodeJSON(f *testing.F) {
	for _, tt := range decodeTests {
		f.Add([]byte(tt.body))
	}
	f.Add([]byte(`{"type":"m.login.password","identifier":{"type":"m.id.user","user":"@alice:example.org"},"password":"p","device_id":"D","initial_device_display_name":"x","refresh_token":false,"devices":["A","B"],"limit":-1}`))
	f.Add([]byte(`{"a":"\"}"}`))
	f.Add([]byte(`{"a":"\\"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var v loginLike
		err := httpapi.DecodeJSON(body, &v)
		switch code := errcode(t, err); code {
		case "", matrix.ErrNotJSON, matrix.ErrBadJSON:
		default:
			t.Fatalf("DecodeJSON(%q) = errcode %q; want M_NOT_JSON or M_BAD_JSON", body, code)
		}
	})
}

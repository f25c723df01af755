package clientapi_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"chappe.eu/chappe/internal/config"
	"chappe.eu/chappe/internal/testserver"
)

// bodyEndpoint is an endpoint that reads a JSON body. Its template is a
// valid body in which every "X" string is a place to put hostile input.
type bodyEndpoint struct {
	method, path string
	authed       bool
	template     string
}

func bodyEndpoints(c *testserver.Client) []bodyEndpoint {
	uiaAuth := `{"type":"m.login.password","session":"X","identifier":{"type":"m.id.user","user":"X"},"password":"X"}`
	return []bodyEndpoint{
		// Every login costs a password hash (~30 ms), so the password, which
		// only ever reaches the hasher, is left out of the sweep.
		{"POST", v3 + "/login", false, `{"type":"m.login.password","identifier":{"type":"m.id.user","user":"X"},"password":"p","device_id":"X","initial_device_display_name":"X"}`},
		{"POST", v3 + "/login", false, `{"type":"m.login.password","user":"X","password":"p"}`},
		{"POST", v3 + "/refresh", false, `{"refresh_token":"X"}`},
		{"POST", v3 + "/register", false, `{"username":"X","password":"X","device_id":"X","initial_device_display_name":"X","auth":{"type":"m.login.registration_token","token":"X","session":"X"}}`},
		{"POST", v3 + "/account/password", true, `{"new_password":"X","auth":` + uiaAuth + `}`},
		{"POST", v3 + "/account/deactivate", true, `{"auth":` + uiaAuth + `}`},
		{"PUT", v3 + "/devices/" + c.DeviceID, true, `{"display_name":"X"}`},
		{"DELETE", v3 + "/devices/" + c.DeviceID, true, `{"auth":` + uiaAuth + `}`},
		{"POST", v3 + "/delete_devices", true, `{"devices":["X"],"auth":` + uiaAuth + `}`},
		{"PUT", v3 + "/profile/" + c.UserID + "/displayname", true, `{"displayname":"X"}`},
		{"PUT", v3 + "/profile/" + c.UserID + "/m.tz", true, `{"m.tz":"X"}`},
		{"PUT", v3 + "/profile/" + c.UserID + "/org.example.k", true, `{"org.example.k":{"X":["X"]}}`},
		{"POST", "/_synapse/admin/v1/register", false, `{"nonce":"X","username":"X","password":"X","mac":"X","displayname":"X","user_type":"X"}`},
		{"POST", "/_synapse/admin/v1/registration_tokens/new", true, `{"token":"X"}`},
		{"PUT", "/_synapse/admin/v1/registration_tokens/tok", true, `{"uses_allowed":5}`},
	}
}

// hostileStrings are JSON string literals that have broken servers: NUL
// (which PostgreSQL refuses in text), lone surrogates (which Go decodes to
// U+FFFD), non-ASCII, ID-like and long values.
var hostileStrings = []string{
	`""`, `"\u0000"`, `"a\u0000b"`, `"\udfff\ud800x"`, `"\u202e"`, `"@:"`, `"@a:chappe.test"`,
	`"` + strings.Repeat("x", 3000) + `"`, `"` + strings.Repeat("é", 1000) + `"`,
}

// TestBadInput feeds malformed and hostile input to every endpoint that
// reads a body, path or query parameters (spec: "Standard error response":
// M_NOT_JSON, M_BAD_JSON, M_TOO_LARGE). Nothing may answer 500.
func TestBadInput(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		const limit = 8192
		srv := start(t, engine, func(c *config.Config) {
			c.Registration.Mode = "token"
			c.Registration.SharedSecret = sharedSecret
			c.Client.MaxRequestBytes = limit
		})
		admin := sharedSecretRegister(t, srv, "root", password, true)
		admin.MustDo("POST", "/_synapse/admin/v1/registration_tokens/new", map[string]any{"token": "tok"}, http.StatusOK)
		anon := srv.Client(t)
		client := func(e bodyEndpoint) *testserver.Client {
			if e.authed {
				return admin
			}
			return anon
		}

		t.Run("malformed bodies", func(t *testing.T) {
			deep := strings.Repeat(`{"a":`, 100) + "1" + strings.Repeat("}", 100)
			deepList := `{"a":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + "}"
			for _, e := range bodyEndpoints(admin) {
				c := client(e)
				what := func(s string) string { return e.method + " " + e.path + " with " + s }
				wantErr(t, what("not JSON"), c.Do(e.method, e.path, "this is not JSON"), http.StatusBadRequest, "M_NOT_JSON")
				wantErr(t, what("truncated JSON"), c.Do(e.method, e.path, `{"a":`), http.StatusBadRequest, "M_NOT_JSON")
				wantErr(t, what("trailing garbage"), c.Do(e.method, e.path, `{} {}`), http.StatusBadRequest, "M_NOT_JSON")
				wantErr(t, what("invalid UTF-8"), c.Do(e.method, e.path, []byte("{\"a\":\"\xff\xfe\"}")), http.StatusBadRequest, "M_NOT_JSON")
				wantErr(t, what("100-deep objects"), c.Do(e.method, e.path, deep), http.StatusBadRequest, "M_NOT_JSON")
				wantErr(t, what("100-deep lists"), c.Do(e.method, e.path, deepList), http.StatusBadRequest, "M_NOT_JSON")
				for _, notObject := range []string{`[]`, `[{}]`, `null`, `42`, `"string"`, `true`} {
					wantErr(t, what(notObject), c.Do(e.method, e.path, notObject), http.StatusBadRequest, "M_BAD_JSON")
				}
				// Every string of the template given a number, an object
				// and a list instead.
				for _, wrong := range []string{`12`, `{}`, `[]`, `1e400`, `true`} {
					r := c.Do(e.method, e.path, strings.ReplaceAll(e.template, `"X"`, wrong))
					if strings.Count(e.template, `"X"`) > 0 && !strings.Contains(e.template, `{"X"`) {
						wantErr(t, what("strings replaced by "+wrong), r, http.StatusBadRequest, "M_BAD_JSON")
					}
					wantNo500(t, what("strings replaced by "+wrong), r)
				}
				// Too large, with and without a Content-Length.
				big := `{"a":"` + strings.Repeat("x", 4*limit) + `"}`
				wantErr(t, what("a body over the limit"), c.Do(e.method, e.path, big), http.StatusRequestEntityTooLarge, "M_TOO_LARGE")
				r := chunked(t, c, e.method, e.path, big)
				if r != http.StatusRequestEntityTooLarge {
					t.Fatalf("%s = %d; want 413", what("a chunked body over the limit"), r)
				}
			}
		})

		t.Run("hostile strings", func(t *testing.T) {
			for _, e := range bodyEndpoints(admin) {
				c := client(e)
				n := strings.Count(e.template, `"X"`)
				for _, s := range hostileStrings {
					// One field at a time, the others harmless, then all.
					for i := 0; i <= n; i++ {
						body := replaceNth(e.template, `"X"`, s, i)
						r := c.Do(e.method, e.path, body)
						wantNo500(t, fmt.Sprintf("%s %s with %.80s", e.method, e.path, body), r)
					}
				}
			}
			admin.MustDo("GET", v3+"/account/whoami", nil, http.StatusOK)
		})

		t.Run("path parameters", func(t *testing.T) {
			long := strings.Repeat("A", 10000)
			for _, p := range []string{long, "%00", "a%00b", "%FF", "%C0%AF", "%2F", "..", "%20", "@", strings.Repeat("%F0%9F%98%80", 300)} {
				for _, req := range []struct{ method, path string }{
					{"GET", v3 + "/devices/" + p}, {"PUT", v3 + "/devices/" + p}, {"DELETE", v3 + "/devices/" + p},
					{"GET", v3 + "/profile/" + p}, {"GET", v3 + "/profile/@" + p + ":chappe.test"},
					{"GET", v3 + "/profile/@" + p + ":chappe.test/displayname"}, {"GET", v3 + "/profile/" + admin.UserID + "/" + p},
					{"PUT", v3 + "/profile/@" + p + ":chappe.test/displayname"}, {"DELETE", v3 + "/profile/" + admin.UserID + "/" + p},
					{"GET", "/_synapse/admin/v1/registration_tokens/" + p}, {"PUT", "/_synapse/admin/v1/registration_tokens/" + p},
					{"DELETE", "/_synapse/admin/v1/registration_tokens/" + p},
				} {
					r := admin.Do(req.method, req.path, map[string]any{})
					wantNo500(t, req.method+" "+trunc(req.path), r)
					if r.Status == http.StatusOK && req.method != "DELETE" {
						t.Fatalf("%s %s = 200 %s; want a 4xx", req.method, trunc(req.path), r.Raw)
					}
				}
			}
			admin.MustDo("GET", v3+"/account/whoami", nil, http.StatusOK)
		})

		t.Run("query parameters", func(t *testing.T) {
			for _, q := range []string{"", "%00", "a%00", "%FF", "-1", "99999999999999999999999", "1e400", "NaN", strings.Repeat("a", 5000), "%E2%80%AE"} {
				for _, path := range []string{
					v3 + "/register/available?username=" + q,
					"/_matrix/client/v1/register/m.login.registration_token/validity?token=" + q,
					v3 + "/register?kind=" + q,
					"/_synapse/admin/v1/registration_tokens?valid=" + q,
					v3 + "/account/whoami?access_token=" + q,
				} {
					method := "GET"
					if strings.HasPrefix(path, v3+"/register?") {
						method = "POST"
					}
					c := anon
					if strings.HasPrefix(path, "/_synapse") {
						c = admin
					}
					wantNo500(t, method+" "+trunc(path), c.Do(method, path, nil))
				}
			}
		})
	})
}

// chunked sends body without a Content-Length and returns the status.
func chunked(t *testing.T, c *testserver.Client, method, path, body string) int {
	t.Helper()
	req, err := http.NewRequest(method, c.URL+path, io.MultiReader(strings.NewReader(body)))
	if err != nil {
		t.Fatal(err)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// replaceNth replaces the i-th occurrence (from 0) of old in s with new,
// and the others with a harmless string; i == count replaces them all.
func replaceNth(s, old, new string, i int) string {
	var b strings.Builder
	n := 0
	for {
		j := strings.Index(s, old)
		if j < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:j])
		if n == i || i == strings.Count(s, old)+n {
			b.WriteString(new)
		} else {
			b.WriteString(`"harmless"`)
		}
		s = s[j+len(old):]
		n++
	}
}

func trunc(s string) string {
	if len(s) > 100 {
		return s[:100] + "…"
	}
	return s
}

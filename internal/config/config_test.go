package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// The template that `chappe generate-config` prints must parse to exactly
// the defaults, or operators would be misled about what they run.
func TestTemplateIsTheDefault(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chappe.yaml")
	if err := os.WriteFile(path, []byte(Template), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path, nil)
	if err != nil {
		t.Fatalf("Load(template) error: %v", err)
	}
	want := Default()
	gy, _ := yaml.Marshal(got)
	wy, _ := yaml.Marshal(want)
	if string(gy) != string(wy) {
		t.Fatalf("template parses to\n%s\nwant the defaults\n%s", gy, wy)
	}
}

func TestEnvironmentOverrides(t *testing.T) {
	cfg, err := Load("", env(map[string]string{
		"CHAPPE_SERVER_NAME":                "example.org",
		"CHAPPE_CLIENT_ADDR":                "127.0.0.1:9999",
		"CHAPPE_FEDERATION_ADDR":            "127.0.0.1:8448",
		"CHAPPE_TLS_CERT":                   "/c.pem",
		"CHAPPE_TLS_KEY":                    "/k.pem",
		"CHAPPE_DATA_DIR":                   "/var/lib/chappe",
		"CHAPPE_DATABASE":                   "postgres://u@h/db",
		"CHAPPE_REGISTRATION":               "token",
		"CHAPPE_REGISTRATION_SHARED_SECRET": "s3cret",
		"CHAPPE_RATELIMIT":                  "off",
	}))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"ServerName", cfg.ServerName, "example.org"},
		{"Client.Addr", cfg.Client.Addr, "127.0.0.1:9999"},
		{"Federation.Addr", cfg.Federation.Addr, "127.0.0.1:8448"},
		{"Federation.TLSCert", cfg.Federation.TLSCert, "/c.pem"},
		{"Federation.TLSKey", cfg.Federation.TLSKey, "/k.pem"},
		{"DataDir", cfg.DataDir, "/var/lib/chappe"},
		{"Database", cfg.Database, "postgres://u@h/db"},
		{"Registration.Mode", cfg.Registration.Mode, "token"},
		{"Registration.SharedSecret", cfg.Registration.SharedSecret, "s3cret"},
		{"RateLimit.Enabled", cfg.RateLimit.Enabled, false},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v; want %v", c.name, c.got, c.want)
		}
	}
}

func TestFileThenEnv(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(path, []byte("server_name: file.example\nauth:\n  access_token_lifetime: 10m\n"), 0o600)
	cfg, err := Load(path, env(map[string]string{"CHAPPE_SERVER_NAME": "env.example"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ServerName != "env.example" {
		t.Errorf("ServerName = %q; want the environment's env.example", cfg.ServerName)
	}
	if cfg.Auth.AccessTokenLifetime != 10*time.Minute {
		t.Errorf("AccessTokenLifetime = %v; want 10m from the file", cfg.Auth.AccessTokenLifetime)
	}
}

// A bad configuration is an error naming the key.
var badConfigs = []struct {
	file    string
	env     map[string]string
	wantKey string
}{
	{"", map[string]string{"CHAPPE_SERVER_NAME": "bad name!"}, "server_name"},
	{"", map[string]string{"CHAPPE_CLIENT_ADDR": "nonsense"}, "client.addr"},
	{"", map[string]string{"CHAPPE_CLIENT_ADDR": "127.0.0.1:99999"}, "client.addr"},
	{"", map[string]string{"CHAPPE_DATABASE": "mysql://x"}, "database"},
	{"", map[string]string{"CHAPPE_REGISTRATION": "sometimes"}, "registration.mode"},
	{"", map[string]string{"CHAPPE_RATELIMIT": "maybe"}, "CHAPPE_RATELIMIT"},
	{"", map[string]string{"CHAPPE_FEDERATION_ADDR": "127.0.0.1:8448"}, "federation.tls_cert"},
	{"", map[string]string{"CHAPPE_FEDERATION_ADDR": "127.0.0.1:8448", "CHAPPE_TLS_CERT": "c"}, "federation.tls_key"},
	{"", map[string]string{"CHAPPE_MAX_REQUEST_BYTES": "ten"}, "CHAPPE_MAX_REQUEST_BYTES"},
	{"", map[string]string{"CHAPPE_CONFIG_UNUSED": "x", "CHAPPE_PUBLIC_BASE_URL": "ftp://x"}, "public_base_url"},
	{"server_nam: typo\n", nil, "config file"},
	{"log:\n  level: loud\n", nil, "log.level"},
	{"rate_limit:\n  login: {per_second: 0, burst: 1}\n", nil, "rate_limit.login"},
	{"metrics:\n  path: /_matrix/metrics\n", nil, "metrics.path"},
	{"auth:\n  access_token_lifetime: 1s\n", nil, "auth.access_token_lifetime"},
	{"client: [1, 2]\n", nil, "config file"},
}

func TestBadConfigNamesTheKey(t *testing.T) {
	for _, tc := range badConfigs {
		path := ""
		if tc.file != "" {
			path = filepath.Join(t.TempDir(), "c.yaml")
			os.WriteFile(path, []byte(tc.file), 0o600)
		}
		_, err := Load(path, env(tc.env))
		var ce *Error
		if !errors.As(err, &ce) || ce.Key != tc.wantKey {
			t.Errorf("Load(%q, %v) = %v; want an error naming %s", tc.file, tc.env, err, tc.wantKey)
		}
	}
}

func TestMissingFileIsNamed(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "absent.yaml"), nil)
	var ce *Error
	if !errors.As(err, &ce) || ce.Key != "CHAPPE_CONFIG" {
		t.Fatalf("Load(missing) = %v; want an error naming CHAPPE_CONFIG", err)
	}
}

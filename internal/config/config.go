// Package config holds Chappe's configuration: one Config struct with
// defaults, loaded from a YAML file and overridden by CHAPPE_* environment
// variables, then validated. It is passed explicitly; there is no global.
package config

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"chappe.eu/chappe/internal/matrix"
)

// Config is the whole configuration of one Chappe process.
type Config struct {
	// ServerName is the domain part of user IDs: @alice:ServerName.
	ServerName string `yaml:"server_name"`
	// PublicBaseURL is where clients reach the client API, announced in
	// /.well-known/matrix/client. Empty: derived from Client.Addr.
	PublicBaseURL string `yaml:"public_base_url"`
	// DataDir holds the SQLite database and, later, media.
	DataDir string `yaml:"data_dir"`
	// Database is empty for SQLite in DataDir, or a postgres:// URL.
	Database string `yaml:"database"`

	Client       ClientConfig       `yaml:"client"`
	Federation   FederationConfig   `yaml:"federation"`
	Registration RegistrationConfig `yaml:"registration"`
	Auth         AuthConfig         `yaml:"auth"`
	RateLimit    RateLimitConfig    `yaml:"rate_limit"`
	Metrics      MetricsConfig      `yaml:"metrics"`
	Media        MediaConfig        `yaml:"media"`
	Rooms        RoomsConfig        `yaml:"rooms"`
	Log          LogConfig          `yaml:"log"`
}

type ClientConfig struct {
	// Addr is host:port of the client API listener (plain HTTP; put a TLS
	// reverse proxy in front of it).
	Addr string `yaml:"addr"`
	// MaxRequestBytes caps a JSON request body.
	MaxRequestBytes int64 `yaml:"max_request_bytes"`
}

type FederationConfig struct {
	// Addr is host:port of the federation listener (TLS); empty turns
	// federation off.
	Addr    string `yaml:"addr"`
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
}

type RegistrationConfig struct {
	// Mode is closed, open or token.
	Mode string `yaml:"mode"`
	// SharedSecret enables Synapse-compatible shared-secret registration
	// at /_synapse/admin/v1/register.
	SharedSecret string `yaml:"shared_secret"`
}

type AuthConfig struct {
	// AccessTokenLifetime applies to access tokens issued with a refresh
	// token; tokens issued without one never expire, as the spec allows.
	AccessTokenLifetime time.Duration `yaml:"access_token_lifetime"`
	// MinPasswordLength for new passwords.
	MinPasswordLength int `yaml:"min_password_length"`
}

type RateLimitConfig struct {
	Enabled bool `yaml:"enabled"`
	// Each limit is a token bucket, applied per user and per client IP.
	Login    Rate `yaml:"login"`
	Register Rate `yaml:"register"`
	Message  Rate `yaml:"message"`
}

// Rate is a token bucket: PerSecond tokens refill, Burst is its size.
type Rate struct {
	PerSecond float64 `yaml:"per_second"`
	Burst     int     `yaml:"burst"`
}

type MetricsConfig struct {
	Enabled bool `yaml:"enabled"`
	// Addr is a separate listener for /metrics; empty serves Path on the
	// client listener.
	Addr string `yaml:"addr"`
	Path string `yaml:"path"`
}

type LogConfig struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// Default returns the configuration of a fresh install: SQLite under
// ./chappe-data, server name localhost, client API on 127.0.0.1:8008.
func Default() Config {
	return Config{
		ServerName:   "localhost",
		DataDir:      "chappe-data",
		Client:       ClientConfig{Addr: "127.0.0.1:8008", MaxRequestBytes: 1 << 20},
		Registration: RegistrationConfig{Mode: "closed"},
		Auth:         AuthConfig{AccessTokenLifetime: 5 * time.Minute, MinPasswordLength: 8},
		RateLimit: RateLimitConfig{
			Enabled: true,
			// Synapse's defaults: rc_login 0.17/s burst 3, rc_registration
			// 0.17/s burst 3, rc_message 0.2/s burst 10. We allow a little
			// more for messages: bots and bridges send in bursts.
			Login:    Rate{PerSecond: 0.17, Burst: 3},
			Register: Rate{PerSecond: 0.17, Burst: 3},
			Message:  Rate{PerSecond: 1, Burst: 20},
		},
		Metrics: MetricsConfig{Path: "/metrics"},
		Media:   defaultMedia(),
		Rooms:   defaultRooms(),
		Log:     LogConfig{Level: "info", Format: "text"},
	}
}

// An Error names the configuration key that is wrong.
type Error struct {
	Key string
	Msg string
}

func (e *Error) Error() string { return fmt.Sprintf("config: %s: %s", e.Key, e.Msg) }

// Load builds the configuration: defaults, then the file at path (if path
// is not empty), then the environment (getenv, usually os.Getenv), then
// validation. Every error is a *Error naming the key.
func Load(path string, getenv func(string) string) (Config, error) {
	c := Default()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return c, &Error{Key: "CHAPPE_CONFIG", Msg: err.Error()}
		}
		if err := c.parseYAML(data); err != nil {
			return c, err
		}
	}
	if err := c.applyEnv(getenv); err != nil {
		return c, err
	}
	return c, c.Validate()
}

func (c *Config) parseYAML(data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true) // a typo in a key is an error, not a silent default
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return &Error{Key: "config file", Msg: err.Error()}
	}
	return nil
}

// envVars maps each supported environment variable to the setting it
// overrides. Operators' tooling and test harnesses rely on these names.
var envVars = []struct {
	name string
	key  string
	set  func(c *Config, v string) error
}{
	{"CHAPPE_SERVER_NAME", "server_name", func(c *Config, v string) error { c.ServerName = v; return nil }},
	{"CHAPPE_PUBLIC_BASE_URL", "public_base_url", func(c *Config, v string) error { c.PublicBaseURL = v; return nil }},
	{"CHAPPE_CLIENT_ADDR", "client.addr", func(c *Config, v string) error { c.Client.Addr = v; return nil }},
	{"CHAPPE_FEDERATION_ADDR", "federation.addr", func(c *Config, v string) error { c.Federation.Addr = v; return nil }},
	{"CHAPPE_TLS_CERT", "federation.tls_cert", func(c *Config, v string) error { c.Federation.TLSCert = v; return nil }},
	{"CHAPPE_TLS_KEY", "federation.tls_key", func(c *Config, v string) error { c.Federation.TLSKey = v; return nil }},
	{"CHAPPE_DATA_DIR", "data_dir", func(c *Config, v string) error { c.DataDir = v; return nil }},
	{"CHAPPE_DATABASE", "database", func(c *Config, v string) error { c.Database = v; return nil }},
	{"CHAPPE_REGISTRATION", "registration.mode", func(c *Config, v string) error { c.Registration.Mode = v; return nil }},
	{"CHAPPE_REGISTRATION_SHARED_SECRET", "registration.shared_secret", func(c *Config, v string) error { c.Registration.SharedSecret = v; return nil }},
	{"CHAPPE_RATELIMIT", "rate_limit.enabled", func(c *Config, v string) error {
		switch v {
		case "on":
			c.RateLimit.Enabled = true
		case "off":
			c.RateLimit.Enabled = false
		default:
			return errors.New(`must be "on" or "off"`)
		}
		return nil
	}},
	{"CHAPPE_METRICS_ADDR", "metrics.addr", func(c *Config, v string) error { c.Metrics.Addr = v; c.Metrics.Enabled = true; return nil }},
	{"CHAPPE_LOG_LEVEL", "log.level", func(c *Config, v string) error { c.Log.Level = v; return nil }},
	{"CHAPPE_MAX_REQUEST_BYTES", "client.max_request_bytes", func(c *Config, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return errors.New("must be an integer")
		}
		c.Client.MaxRequestBytes = n
		return nil
	}},
}

func (c *Config) applyEnv(getenv func(string) string) error {
	if getenv == nil {
		return nil
	}
	for _, e := range envVars {
		// An empty variable counts as set only where empty means something
		// (CHAPPE_FEDERATION_ADDR= turns federation off); os.LookupEnv
		// can't be told apart through getenv, so empty means unset.
		if v := getenv(e.name); v != "" {
			if err := e.set(c, v); err != nil {
				return &Error{Key: e.name, Msg: err.Error()}
			}
		}
	}
	return nil
}

// Validate checks every setting and names the first wrong one.
func (c *Config) Validate() error {
	if _, err := matrix.ParseServerName(c.ServerName); err != nil {
		return &Error{"server_name", err.Error()}
	}
	if c.PublicBaseURL != "" {
		if u, err := url.Parse(c.PublicBaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return &Error{"public_base_url", "must be an http(s) URL"}
		}
	}
	if c.DataDir == "" {
		return &Error{"data_dir", "must not be empty"}
	}
	if c.Database != "" && !strings.HasPrefix(c.Database, "postgres://") && !strings.HasPrefix(c.Database, "postgresql://") {
		return &Error{"database", `must be empty (SQLite in data_dir) or a postgres:// URL`}
	}
	if err := checkAddr(c.Client.Addr); err != nil {
		return &Error{"client.addr", err.Error()}
	}
	if c.Client.MaxRequestBytes < 1024 || c.Client.MaxRequestBytes > 100<<20 {
		return &Error{"client.max_request_bytes", "must be between 1024 and 104857600"}
	}
	if c.Federation.Addr != "" {
		if err := checkAddr(c.Federation.Addr); err != nil {
			return &Error{"federation.addr", err.Error()}
		}
		if c.Federation.TLSCert == "" {
			return &Error{"federation.tls_cert", "required when federation.addr is set"}
		}
		if c.Federation.TLSKey == "" {
			return &Error{"federation.tls_key", "required when federation.addr is set"}
		}
	}
	switch c.Registration.Mode {
	case "closed", "open", "token":
	default:
		return &Error{"registration.mode", `must be "closed", "open" or "token"`}
	}
	if c.Auth.AccessTokenLifetime < time.Minute {
		return &Error{"auth.access_token_lifetime", "must be at least 1m"}
	}
	if c.Auth.MinPasswordLength < 1 || c.Auth.MinPasswordLength > 128 {
		return &Error{"auth.min_password_length", "must be between 1 and 128"}
	}
	for name, r := range map[string]Rate{"login": c.RateLimit.Login, "register": c.RateLimit.Register, "message": c.RateLimit.Message} {
		if r.PerSecond <= 0 || r.Burst < 1 {
			return &Error{"rate_limit." + name, "per_second must be > 0 and burst >= 1"}
		}
	}
	if c.Metrics.Addr != "" {
		if err := checkAddr(c.Metrics.Addr); err != nil {
			return &Error{"metrics.addr", err.Error()}
		}
	}
	if !strings.HasPrefix(c.Metrics.Path, "/") || strings.HasPrefix(c.Metrics.Path, "/_matrix") {
		return &Error{"metrics.path", "must start with / and not be under /_matrix"}
	}
	if err := c.Media.validate(); err != nil {
		return err
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return &Error{"log.level", "must be debug, info, warn or error"}
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return &Error{"log.format", "must be text or json"}
	}
	return nil
}

func checkAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("must be host:port: %v", err)
	}
	if host != "" && net.ParseIP(host) == nil && host != "localhost" {
		return errors.New("host must be an IP address or localhost")
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return errors.New("port must be 0..65535")
	}
	return nil
}

// Template is the commented default configuration that
// `chappe generate-config` prints.
//
//go:embed template.yaml
var Template string

// Package clientapi serves the Matrix client-server API
// (/_matrix/client/...) and the few neighbouring endpoints clients and
// operators' tools use (/.well-known, /_synapse/admin for shared-secret
// registration and registration tokens, /health). One file per endpoint
// group; handlers hang off *API and return errors (see httpapi).
package clientapi

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"chappe.eu/chappe/internal/config"
	"chappe.eu/chappe/internal/httpapi"
	"chappe.eu/chappe/internal/matrix"
	"chappe.eu/chappe/internal/presence"
	"chappe.eu/chappe/internal/ratelimit"
	"chappe.eu/chappe/internal/rooms"
	"chappe.eu/chappe/internal/store"
	"chappe.eu/chappe/internal/typing"
)

// API is the client-server API of one Chappe process.
type API struct {
	cfg   *config.Config
	db    *store.DB
	rooms *rooms.Service
	log   *slog.Logger

	// notify wakes the /syncs of users whose data changed (account data,
	// receipts…); typing and presence are the in-memory and stored
	// ephemeral streams.
	notify   Notifier
	typing   *typing.Tracker
	presence *presence.Service

	limits struct {
		login, register, message *ratelimit.Limiter
	}

	// lastSeenMu guards lastSeen: when each device's last_seen was last
	// written, so that we write it at most every lastSeenInterval instead
	// of on every request.
	lastSeenMu sync.Mutex
	lastSeen   map[string]time.Time

	// background counts goroutines that must finish before storage closes.
	background sync.WaitGroup
}

// Notifier wakes waiting /syncs (syncapi.Notifier): one user's for their
// own data, a room's members' for the room's.
type Notifier interface {
	NotifyRoom(pos int64, roomID string)
	NotifyUser(pos int64, userID string)
}

// Close waits for background writes to finish.
func (a *API) Close() { a.background.Wait() }

const lastSeenInterval = time.Minute

// New returns the client API over db.
func New(cfg *config.Config, db *store.DB, rs *rooms.Service, n Notifier, typ *typing.Tracker, pres *presence.Service, log *slog.Logger) *API {
	a := &API{cfg: cfg, db: db, rooms: rs, log: log, lastSeen: map[string]time.Time{},
		notify: n, typing: typ, presence: pres}
	rl := cfg.RateLimit
	a.limits.login = ratelimit.New(rl.Login.PerSecond, rl.Login.Burst)
	a.limits.register = ratelimit.New(rl.Register.PerSecond, rl.Register.Burst)
	a.limits.message = ratelimit.New(rl.Message.PerSecond, rl.Message.Burst)
	return a
}

// Register adds the API's routes to rt.
func (a *API) Register(rt *httpapi.Router) {
	const c = "/_matrix/client"
	rt.Handle("GET", "/health", a.health)
	rt.Handle("GET", "/.well-known/matrix/client", a.wellKnownClient)
	rt.Handle("GET", "/.well-known/matrix/server", a.wellKnownServer)
	rt.Handle("GET", c+"/versions", a.versions)
	rt.Handle("GET", c+"/v3/capabilities", a.authed(a.capabilities))

	rt.Handle("GET", c+"/v3/login", a.loginFlows)
	rt.Handle("POST", c+"/v3/login", a.login)
	rt.Handle("POST", c+"/v3/refresh", a.refresh)
	rt.Handle("POST", c+"/v3/logout", a.authed(a.logout))
	rt.Handle("POST", c+"/v3/logout/all", a.authed(a.logoutAll))
	rt.Handle("GET", c+"/v3/account/whoami", a.authed(a.whoami))
	rt.Handle("POST", c+"/v3/account/password", a.changePassword)
	rt.Handle("POST", c+"/v3/account/deactivate", a.deactivate)

	rt.Handle("POST", c+"/v3/register", a.register)
	rt.Handle("GET", c+"/v3/register/available", a.registerAvailable)
	rt.Handle("GET", c+"/v1/register/m.login.registration_token/validity", a.registrationTokenValidity)

	rt.Handle("GET", c+"/v3/devices", a.authed(a.listDevices))
	rt.Handle("GET", c+"/v3/devices/{deviceId}", a.authed(a.getDevice))
	rt.Handle("PUT", c+"/v3/devices/{deviceId}", a.authed(a.putDevice))
	rt.Handle("DELETE", c+"/v3/devices/{deviceId}", a.deleteDevice)
	rt.Handle("POST", c+"/v3/delete_devices", a.deleteDevices)

	rt.Handle("GET", c+"/v3/profile/{userId}", a.getProfile)
	rt.Handle("GET", c+"/v3/profile/{userId}/{field}", a.getProfileField)
	rt.Handle("PUT", c+"/v3/profile/{userId}/{field}", a.authed(a.putProfileField))
	rt.Handle("DELETE", c+"/v3/profile/{userId}/{field}", a.authed(a.deleteProfileField))

	rt.Handle("POST", c+"/v3/createRoom", a.authed(a.createRoom))
	rt.Handle("GET", c+"/v3/joined_rooms", a.authed(a.joinedRooms))
	rt.Handle("POST", c+"/v3/join/{roomIdOrAlias}", a.authed(a.joinRoomByIDOrAlias))
	rt.Handle("POST", c+"/v3/knock/{roomIdOrAlias}", a.authed(a.knock))
	rt.Handle("POST", c+"/v3/rooms/{roomId}/join", a.authed(a.joinRoomByID))
	rt.Handle("POST", c+"/v3/rooms/{roomId}/leave", a.authed(a.leave))
	rt.Handle("POST", c+"/v3/rooms/{roomId}/forget", a.authed(a.forget))
	rt.Handle("POST", c+"/v3/rooms/{roomId}/invite", a.authed(a.memberAction("invite")))
	rt.Handle("POST", c+"/v3/rooms/{roomId}/kick", a.authed(a.memberAction("leave")))
	rt.Handle("POST", c+"/v3/rooms/{roomId}/ban", a.authed(a.memberAction("ban")))
	rt.Handle("POST", c+"/v3/rooms/{roomId}/unban", a.authed(a.memberAction("leave")))
	rt.Handle("PUT", c+"/v3/rooms/{roomId}/send/{eventType}/{txnId}", a.authed(a.sendMessage))
	rt.Handle("PUT", c+"/v3/rooms/{roomId}/redact/{eventId}/{txnId}", a.authed(a.redact))
	rt.Handle("PUT", c+"/v3/rooms/{roomId}/state/{eventType}", a.authed(a.putState))
	rt.Handle("PUT", c+"/v3/rooms/{roomId}/state/{eventType}/{stateKey...}", a.authed(a.putState))
	rt.Handle("GET", c+"/v3/rooms/{roomId}/state", a.authed(a.getRoomState))
	rt.Handle("GET", c+"/v3/rooms/{roomId}/state/{eventType}", a.authed(a.getStateEvent))
	rt.Handle("GET", c+"/v3/rooms/{roomId}/state/{eventType}/{stateKey...}", a.authed(a.getStateEvent))
	rt.Handle("GET", c+"/v3/rooms/{roomId}/event/{eventId}", a.authed(a.getEvent))
	rt.Handle("GET", c+"/v3/rooms/{roomId}/members", a.authed(a.getMembers))
	rt.Handle("GET", c+"/v3/rooms/{roomId}/joined_members", a.authed(a.getJoinedMembers))
	rt.Handle("GET", c+"/v3/rooms/{roomId}/messages", a.authed(a.messages))
	rt.Handle("GET", c+"/v3/rooms/{roomId}/context/{eventId}", a.authed(a.eventContext))
	rt.Handle("GET", c+"/v1/rooms/{roomId}/relations/{eventId}", a.authed(a.relations))
	rt.Handle("GET", c+"/v1/rooms/{roomId}/relations/{eventId}/{relType}", a.authed(a.relations))
	rt.Handle("GET", c+"/v1/rooms/{roomId}/relations/{eventId}/{relType}/{eventType}", a.authed(a.relations))
	rt.Handle("GET", c+"/v1/rooms/{roomId}/threads", a.authed(a.threads))
	rt.Handle("GET", c+"/v1/rooms/{roomId}/timestamp_to_event", a.authed(a.timestampToEvent))
	a.registerUserData(rt) // account data, tags, presence, typing
	a.registerPush(rt, c)  // push rules, notifications, receipts, read markers

	rt.Handle("GET", "/_synapse/admin/v1/register", a.sharedSecretNonce)
	rt.Handle("POST", "/_synapse/admin/v1/register", a.sharedSecretRegister)
	rt.Handle("GET", "/_synapse/admin/v1/registration_tokens", a.admin(a.listRegistrationTokens))
	rt.Handle("POST", "/_synapse/admin/v1/registration_tokens/new", a.admin(a.newRegistrationToken))
	rt.Handle("GET", "/_synapse/admin/v1/registration_tokens/{token}", a.admin(a.getRegistrationToken))
	rt.Handle("PUT", "/_synapse/admin/v1/registration_tokens/{token}", a.admin(a.updateRegistrationToken))
	rt.Handle("DELETE", "/_synapse/admin/v1/registration_tokens/{token}", a.admin(a.deleteRegistrationToken))

	a.registerDirectory(rt, c) // aliases, the published room directory, upgrades
	a.registerSearch(rt, c)    // search and the user directory
}

// readJSON decodes a request body within the configured size cap.
func (a *API) readJSON(r *http.Request, v any) error {
	return httpapi.ReadJSON(r, a.cfg.Client.MaxRequestBytes, v)
}

// rateLimit takes a token from l for the client's IP and, when known, the
// user; it answers M_LIMIT_EXCEEDED with retry_after_ms when either is
// out.
func (a *API) rateLimit(l *ratelimit.Limiter, r *http.Request, userID string) error {
	keys := []string{"ip:" + clientIP(r)}
	if userID != "" {
		keys = append(keys, "user:"+userID)
	}
	return a.takeTokens(l, keys...)
}

// rateLimitUser takes a token from l for the user alone, for a request
// that has paid for its IP already: taking the IP's token twice would
// halve the configured burst.
func (a *API) rateLimitUser(l *ratelimit.Limiter, userID string) error {
	return a.takeTokens(l, "user:"+userID)
}

// checkRateLimit answers M_LIMIT_EXCEEDED if the client's IP is out of
// tokens, without taking one: for requests that only count once they
// succeed (registration, whose first step is a UIA challenge — Synapse
// counts only completed registrations).
func (a *API) checkRateLimit(l *ratelimit.Limiter, r *http.Request) error {
	if !a.cfg.RateLimit.Enabled {
		return nil
	}
	if ok, wait := l.Peek("ip:" + clientIP(r)); !ok {
		return matrix.Errorf(http.StatusTooManyRequests, matrix.ErrLimitExceeded, "Too many requests").
			With("retry_after_ms", wait.Milliseconds()+1)
	}
	return nil
}

func (a *API) takeTokens(l *ratelimit.Limiter, keys ...string) error {
	if !a.cfg.RateLimit.Enabled {
		return nil
	}
	for _, k := range keys {
		if ok, wait := l.Allow(k); !ok {
			return matrix.Errorf(http.StatusTooManyRequests, matrix.ErrLimitExceeded, "Too many requests").
				With("retry_after_ms", wait.Milliseconds()+1)
		}
	}
	return nil
}

// storable reports whether a string from a client can be stored as text
// or looked up on both engines: PostgreSQL refuses NUL bytes and invalid
// UTF-8 in text (a 500 if they reach it), and URL paths and queries can
// carry both. A value that is not storable cannot name anything stored.
func storable(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// clientIP is the peer's address. Behind a reverse proxy every request
// comes from the proxy; trusting X-Forwarded-For needs a configured list
// of proxies, which comes with the deployment work.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (a *API) health(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.db.Ping(ctx); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("database unavailable\n"))
		return nil
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte("OK"))
	return nil
}

// baseURL is the client API's public URL.
func (a *API) baseURL() string {
	if a.cfg.PublicBaseURL != "" {
		return strings.TrimSuffix(a.cfg.PublicBaseURL, "/")
	}
	return "http://" + a.cfg.Client.Addr
}

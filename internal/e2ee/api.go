// Package e2ee serves what clients need for end-to-end encryption (spec:
// "End-to-End Encryption", "Send-to-Device messaging", "Secrets"): device,
// one-time and fallback keys, cross-signing keys and signatures,
// to-device messages, server-side key backup and dehydrated devices
// (MSC3814). The server never sees a private key or plaintext: it checks
// signatures where the spec asks it to, keeps what devices upload, hands
// each one-time key out once, and tells the devices of everyone who shares
// a room with a user when that user's devices or keys change.
//
// /sync carries the other half (device_lists, one-time key counts,
// to_device): see syncapi's devicelists.go and todevice.go.
package e2ee

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"chappe.eu/chappe/internal/clientapi"
	"chappe.eu/chappe/internal/config"
	"chappe.eu/chappe/internal/httpapi"
	"chappe.eu/chappe/internal/matrix"
	"chappe.eu/chappe/internal/store"
)

// Error codes of this module that internal/matrix does not list.
const (
	ErrInvalidSignature     = "M_INVALID_SIGNATURE"
	ErrWrongRoomKeysVersion = "M_WRONG_ROOM_KEYS_VERSION"
)

// Authenticator is what the client API does for this one: resolve access
// tokens and run user-interactive authentication.
type Authenticator interface {
	Authenticate(r *http.Request) (*clientapi.Session, error)
	PasswordUIA(r *http.Request, auth json.RawMessage, action, userID string) error
}

// Notifier wakes a user's waiting /syncs for something at a stream
// position (the sync API's Notifier).
type Notifier interface {
	NotifyUser(pos int64, userID string)
}

// API serves the end-to-end encryption endpoints.
type API struct {
	cfg    *config.Config
	db     *store.DB
	notify Notifier
	auth   Authenticator
	log    *slog.Logger
}

// New returns the API. It also tells the store to wake /syncs when
// devices are deleted elsewhere (logout, device deletion, deactivation).
func New(cfg *config.Config, db *store.DB, n Notifier, auth Authenticator, log *slog.Logger) *API {
	a := &API{cfg: cfg, db: db, notify: n, auth: auth, log: log}
	db.OnDeviceListChange = func(userID string, pos int64) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		a.deviceListChanged(ctx, userID, "", pos)
	}
	return a
}

// Register adds the routes.
func (a *API) Register(rt *httpapi.Router) {
	const c = "/_matrix/client/v3"
	rt.Handle("POST", c+"/keys/upload", a.authed(a.uploadKeys))
	rt.Handle("POST", c+"/keys/query", a.authed(a.queryKeys))
	rt.Handle("POST", c+"/keys/claim", a.authed(a.claimKeys))
	rt.Handle("GET", c+"/keys/changes", a.authed(a.keyChanges))
	rt.Handle("POST", c+"/keys/device_signing/upload", a.authed(a.uploadCrossSigningKeys))
	rt.Handle("POST", c+"/keys/signatures/upload", a.authed(a.uploadSignatures))

	rt.Handle("PUT", c+"/sendToDevice/{eventType}/{txnId}", a.authed(a.sendToDevice))

	rt.Handle("POST", c+"/room_keys/version", a.authed(a.createBackupVersion))
	rt.Handle("GET", c+"/room_keys/version", a.authed(a.getBackupVersion))
	rt.Handle("GET", c+"/room_keys/version/{version}", a.authed(a.getBackupVersion))
	rt.Handle("PUT", c+"/room_keys/version/{version}", a.authed(a.updateBackupVersion))
	rt.Handle("DELETE", c+"/room_keys/version/{version}", a.authed(a.deleteBackupVersion))
	for _, p := range []string{"/room_keys/keys", "/room_keys/keys/{roomId}", "/room_keys/keys/{roomId}/{sessionId}"} {
		rt.Handle("PUT", c+p, a.authed(a.putBackupKeys))
		rt.Handle("GET", c+p, a.authed(a.getBackupKeys))
		rt.Handle("DELETE", c+p, a.authed(a.deleteBackupKeys))
	}

	const msc3814 = "/_matrix/client/unstable/org.matrix.msc3814.v1"
	rt.Handle("PUT", msc3814+"/dehydrated_device", a.authed(a.putDehydratedDevice))
	rt.Handle("GET", msc3814+"/dehydrated_device", a.authed(a.getDehydratedDevice))
	rt.Handle("DELETE", msc3814+"/dehydrated_device", a.authed(a.deleteDehydratedDevice))
	rt.Handle("POST", msc3814+"/dehydrated_device/{deviceId}/events", a.authed(a.dehydratedDeviceEvents))
}

func (a *API) authed(h func(w http.ResponseWriter, r *http.Request, s *clientapi.Session) error) httpapi.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		s, err := a.auth.Authenticate(r)
		if err != nil {
			return err
		}
		return h(w, r, s)
	}
}

// readJSON decodes a request body within the configured size cap.
func (a *API) readJSON(r *http.Request, v any) error {
	return httpapi.ReadJSON(r, a.cfg.Client.MaxRequestBytes, v)
}

// deviceListChanged wakes the /syncs of those who hear of userID's device
// list change at pos: everyone sharing a room with them and themselves,
// or viewer alone.
func (a *API) deviceListChanged(ctx context.Context, userID, viewer string, pos int64) {
	if viewer != "" {
		a.notify.NotifyUser(pos, viewer)
		return
	}
	users, err := a.db.UsersSharingRooms(ctx, userID)
	if err != nil {
		a.log.Warn("loading the users to tell of a device list change", "user", userID, "err", err)
	}
	a.notify.NotifyUser(pos, userID)
	for _, u := range users {
		if u != userID {
			a.notify.NotifyUser(pos, u)
		}
	}
}

// localUser reports whether userID is a syntactically valid user of this
// server; remote users need federation.
func (a *API) localUser(userID string) (matrix.UserID, bool, error) {
	u, err := matrix.ParseUserID(userID)
	if err != nil {
		return "", false, matrix.InvalidParam("Invalid user ID %q", userID)
	}
	return u, string(u.Server()) == a.cfg.ServerName, nil
}

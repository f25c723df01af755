package syncapi

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"chappe.eu/chappe/internal/clientapi"
	"chappe.eu/chappe/internal/config"
	"chappe.eu/chappe/internal/filter"
	"chappe.eu/chappe/internal/httpapi"
	"chappe.eu/chappe/internal/matrix"
	"chappe.eu/chappe/internal/presence"
	"chappe.eu/chappe/internal/rooms"
	"chappe.eu/chappe/internal/store"
	"chappe.eu/chappe/internal/typing"
)

// Authenticator resolves access tokens (the client API does).
type Authenticator interface {
	Authenticate(r *http.Request) (*clientapi.Session, error)
}

// API serves /sync and filters.
type API struct {
	cfg      *config.Config
	db       *store.DB
	rooms    *rooms.Service
	notifier *Notifier
	auth     Authenticator
	log      *slog.Logger
	typing   *typing.Tracker
	presence *presence.Service
}

// New returns the sync API.
func New(cfg *config.Config, db *store.DB, rs *rooms.Service, n *Notifier, auth Authenticator, typ *typing.Tracker, pres *presence.Service, log *slog.Logger) *API {
	return &API{cfg: cfg, db: db, rooms: rs, notifier: n, auth: auth, typing: typ, presence: pres, log: log}
}

// Register adds the routes.
func (a *API) Register(rt *httpapi.Router) {
	const c = "/_matrix/client/v3"
	rt.Handle("GET", c+"/sync", a.authed(a.sync))
	rt.Handle("POST", c+"/user/{userId}/filter", a.authed(a.postFilter))
	rt.Handle("GET", c+"/user/{userId}/filter/{filterId}", a.authed(a.getFilter))
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

func (a *API) postFilter(w http.ResponseWriter, r *http.Request, s *clientapi.Session) error {
	if r.PathValue("userId") != s.UserID {
		return matrix.Forbidden("You cannot create filters for other users")
	}
	body, err := httpapi.ReadBody(r, 64*1024)
	if err != nil {
		return err
	}
	var raw map[string]json.RawMessage
	if err := httpapi.DecodeJSON(body, &raw); err != nil {
		return err
	}
	if _, err := filter.Parse(body); err != nil {
		return matrix.BadJSON("Invalid filter: %v", err)
	}
	id, err := a.db.AddFilter(r.Context(), s.UserID, strings.TrimSpace(string(body)))
	if err == store.ErrTooMany {
		return matrix.Errorf(http.StatusBadRequest, matrix.ErrLimitExceeded, "Too many filters")
	}
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]string{"filter_id": strconv.FormatInt(id, 10)})
}

func (a *API) getFilter(w http.ResponseWriter, r *http.Request, s *clientapi.Session) error {
	notFound := matrix.NotFound("No such filter")
	if r.PathValue("userId") != s.UserID {
		return notFound
	}
	id, err := strconv.ParseInt(r.PathValue("filterId"), 10, 64)
	if err != nil || id < 0 {
		return notFound
	}
	f, err := a.db.Filter(r.Context(), s.UserID, id)
	if err == store.ErrNotFound {
		return notFound
	}
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(f))
	return nil
}

// loadFilter reads /sync's filter parameter: a filter ID or inline JSON.
func (a *API) loadFilter(r *http.Request, userID string) (*filter.Filter, error) {
	param := r.URL.Query().Get("filter")
	if param == "" {
		return &filter.Filter{}, nil
	}
	data := []byte(param)
	if !strings.HasPrefix(strings.TrimSpace(param), "{") {
		id, err := strconv.ParseInt(param, 10, 64)
		if err != nil || id < 0 {
			return nil, matrix.InvalidParam("Unknown filter")
		}
		f, err := a.db.Filter(r.Context(), userID, id)
		if err == store.ErrNotFound {
			return nil, matrix.InvalidParam("Unknown filter")
		}
		if err != nil {
			return nil, err
		}
		data = []byte(f)
	}
	f, err := filter.Parse(data)
	if err != nil {
		return nil, matrix.BadJSON("Invalid filter: %v", err)
	}
	return f, nil
}

package clientapi

import (
	"net"
	"net/http"

	"chappe.eu/chappe/internal/httpapi"
	"chappe.eu/chappe/internal/room/event"
)

// supportedVersions are the spec versions whose client-server API Chappe
// serves ("GET /_matrix/client/versions").
var supportedVersions = []string{"v1.1", "v1.2", "v1.3", "v1.4", "v1.5", "v1.6", "v1.7", "v1.8", "v1.9", "v1.10", "v1.11"}

func (a *API) versions(w http.ResponseWriter, r *http.Request) error {
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{
		"versions": supportedVersions,
		// MSC3814 dehydrated devices (internal/e2ee): clients look here
		// before using the unstable endpoints.
		"unstable_features": map[string]bool{"org.matrix.msc3814": true},
	})
}

func (a *API) wellKnownBody() map[string]any {
	return map[string]any{"m.homeserver": map[string]string{"base_url": a.baseURL()}}
}

func (a *API) wellKnownClient(w http.ResponseWriter, r *http.Request) error {
	return httpapi.WriteJSON(w, http.StatusOK, a.wellKnownBody())
}

// wellKnownServer delegates federation to the federation listener's port
// (spec: server-server API "Server discovery"). Without federation there
// is nothing to delegate to.
func (a *API) wellKnownServer(w http.ResponseWriter, r *http.Request) error {
	if a.cfg.Federation.Addr == "" {
		return httpapi.WriteJSON(w, http.StatusNotFound, map[string]string{"errcode": "M_NOT_FOUND", "error": "Federation is disabled"})
	}
	_, port, _ := net.SplitHostPort(a.cfg.Federation.Addr)
	host, _, err := net.SplitHostPort(a.cfg.ServerName)
	if err != nil {
		host = a.cfg.ServerName // no port in the server name
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]string{"m.server": net.JoinHostPort(host, port)})
}

func (a *API) capabilities(w http.ResponseWriter, r *http.Request, s *Session) error {
	available := map[string]string{}
	for _, id := range event.Versions() {
		available[id] = "stable"
	}
	enabled := map[string]bool{"enabled": true}
	disabled := map[string]bool{"enabled": false}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"capabilities": map[string]any{
		"m.change_password": enabled,
		"m.room_versions":   map[string]any{"default": event.DefaultRoomVersion, "available": available},
		"m.set_displayname": enabled,
		"m.set_avatar_url":  enabled,
		"m.3pid_changes":    disabled,
		"m.get_login_token": disabled,
		"m.profile_fields":  enabled,
	}})
}

package clientapi

import (
	"net/http"

	"chappe.eu/chappe/internal/httpapi"
	"chappe.eu/chappe/internal/matrix"
	"chappe.eu/chappe/internal/search"
)

// POST /v3/user_directory/search ("User directory"). As Synapse does by
// default (search_all_users: false), a user finds the users they share a
// room with and the users joined to rooms anyone may join or read (join
// rule public, history visibility world_readable) — the minimum the spec
// requires, and no more: a state deployment's staff list is not public.
// Words match as prefixes of the words of a user's ID localpart and
// global display name (never a per-room nickname), ignoring case and
// accents; see search.DirectoryPrefixes and store.SearchUserDirectory.

const (
	defaultDirectoryLimit = 10 // spec
	// maxDirectoryLimit caps a page, as Synapse does not: a client that
	// asks for more gets limited: true.
	maxDirectoryLimit = 100
)

func (a *API) searchUserDirectory(w http.ResponseWriter, r *http.Request, s *Session) error {
	var req struct {
		SearchTerm *string `json:"search_term"`
		Limit      *int    `json:"limit"`
	}
	if err := a.readJSON(r, &req); err != nil {
		return err
	}
	if req.SearchTerm == nil {
		return matrix.MissingParam("Missing search_term")
	}
	limit := defaultDirectoryLimit
	if req.Limit != nil {
		if *req.Limit < 0 {
			return matrix.InvalidParam("limit must not be negative")
		}
		limit = min(*req.Limit, maxDirectoryLimit)
	}
	users, limited, err := a.db.SearchUserDirectory(r.Context(), s.UserID, search.DirectoryPrefixes(*req.SearchTerm), limit)
	if err != nil {
		return err
	}
	type result struct {
		UserID      string `json:"user_id"`
		DisplayName string `json:"display_name,omitempty"`
		AvatarURL   string `json:"avatar_url,omitempty"`
	}
	results := make([]result, len(users))
	for i, u := range users {
		results[i] = result{UserID: u.UserID, DisplayName: u.DisplayName, AvatarURL: u.AvatarURL}
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"results": results, "limited": limited})
}

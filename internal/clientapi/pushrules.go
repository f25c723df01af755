package clientapi

import (
	"encoding/json"
	"net/http"

	"chappe.eu/chappe/internal/httpapi"
	"chappe.eu/chappe/internal/matrix"
	"chappe.eu/chappe/internal/push"
)

// Push rules ("Push Rules: API"). Only the global scope exists: other
// scopes are unknown paths (M_UNRECOGNIZED), as the spec defines none.
// Every change takes a stream position, so m.push_rules reaches the user's
// /sync, and wakes their waiting /syncs.

// registerPush adds the routes of push rules, notifications, receipts and
// read markers.
func (a *API) registerPush(rt *httpapi.Router, c string) {
	const p = "/v3/pushrules/"
	rt.Handle("GET", c+p+"{$}", a.authed(a.getPushRules))
	rt.Handle("GET", c+p+"global/{$}", a.authed(a.getPushRulesGlobal))
	// Not in the spec, served by Synapse, asked for by some clients.
	rt.Handle("GET", c+p+"global", a.authed(a.getPushRulesGlobal))
	rt.Handle("GET", c+p+"global/{kind}/{$}", a.authed(a.getPushRulesOfKind))
	rt.Handle("GET", c+p+"global/{kind}/{ruleId}", a.authed(a.getPushRule))
	rt.Handle("PUT", c+p+"global/{kind}/{ruleId}", a.authed(a.putPushRule))
	rt.Handle("DELETE", c+p+"global/{kind}/{ruleId}", a.authed(a.deletePushRule))
	rt.Handle("GET", c+p+"global/{kind}/{ruleId}/enabled", a.authed(a.getPushRuleEnabled))
	rt.Handle("PUT", c+p+"global/{kind}/{ruleId}/enabled", a.authed(a.putPushRuleEnabled))
	rt.Handle("GET", c+p+"global/{kind}/{ruleId}/actions", a.authed(a.getPushRuleActions))
	rt.Handle("PUT", c+p+"global/{kind}/{ruleId}/actions", a.authed(a.putPushRuleActions))

	rt.Handle("GET", c+"/v3/notifications", a.authed(a.notifications))
	rt.Handle("POST", c+"/v3/rooms/{roomId}/receipt/{receiptType}/{eventId}", a.authed(a.postReceipt))
	rt.Handle("POST", c+"/v3/rooms/{roomId}/read_markers", a.authed(a.postReadMarkers))
}

// userRules loads the user's rules document.
func (a *API) userRules(r *http.Request, userID string) (*push.UserRules, error) {
	doc, _, err := a.db.PushRules(r.Context(), userID)
	if err != nil {
		return nil, err
	}
	return push.ParseUserRules(doc)
}

func (a *API) getPushRules(w http.ResponseWriter, r *http.Request, s *Session) error {
	u, err := a.userRules(r, s.UserID)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"global": u.Ruleset(s.UserID)})
}

func (a *API) getPushRulesGlobal(w http.ResponseWriter, r *http.Request, s *Session) error {
	u, err := a.userRules(r, s.UserID)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, u.Ruleset(s.UserID))
}

// getPushRulesOfKind lists the rules of one kind, as Synapse does for
// GET /pushrules/global/{kind}/.
func (a *API) getPushRulesOfKind(w http.ResponseWriter, r *http.Request, s *Session) error {
	k, ok := push.ParseKind(r.PathValue("kind"))
	if !ok {
		return matrix.InvalidParam("Unknown push rule kind")
	}
	u, err := a.userRules(r, s.UserID)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, u.Ruleset(s.UserID).Of(k))
}

// pathRule reads {kind} and {ruleId}.
func pathRule(r *http.Request) (push.Kind, string, error) {
	k, ok := push.ParseKind(r.PathValue("kind"))
	if !ok {
		return "", "", matrix.InvalidParam("Unknown push rule kind")
	}
	return k, r.PathValue("ruleId"), nil
}

// findRule returns the rule the path names, as the user sees it.
func (a *API) findRule(r *http.Request, s *Session) (push.Rule, error) {
	k, id, err := pathRule(r)
	if err != nil {
		return push.Rule{}, err
	}
	u, err := a.userRules(r, s.UserID)
	if err != nil {
		return push.Rule{}, err
	}
	rule, ok := u.Ruleset(s.UserID).Find(k, id)
	if !ok {
		return push.Rule{}, matrix.NotFound("The push rule was not found.")
	}
	return rule, nil
}

func (a *API) getPushRule(w http.ResponseWriter, r *http.Request, s *Session) error {
	rule, err := a.findRule(r, s)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, rule)
}

func (a *API) getPushRuleEnabled(w http.ResponseWriter, r *http.Request, s *Session) error {
	rule, err := a.findRule(r, s)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]bool{"enabled": rule.Enabled})
}

func (a *API) getPushRuleActions(w http.ResponseWriter, r *http.Request, s *Session) error {
	rule, err := a.findRule(r, s)
	if err != nil {
		return err
	}
	actions := rule.Actions
	if actions == nil {
		actions = []json.RawMessage{}
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"actions": actions})
}

// changeRules applies change to the user's rules in one transaction and
// wakes their /syncs.
func (a *API) changeRules(w http.ResponseWriter, r *http.Request, s *Session, change func(u *push.UserRules) error) error {
	pos, err := a.db.UpdatePushRules(r.Context(), s.UserID, func(doc []byte) ([]byte, error) {
		u, err := push.ParseUserRules(doc)
		if err != nil {
			return nil, err
		}
		if err := change(u); err != nil {
			return nil, err
		}
		return u.Encode()
	})
	if err != nil {
		return err
	}
	a.notify.NotifyUser(pos, s.UserID)
	return httpapi.WriteJSON(w, http.StatusOK, struct{}{})
}

func (a *API) putPushRule(w http.ResponseWriter, r *http.Request, s *Session) error {
	k, id, err := pathRule(r)
	if err != nil {
		return err
	}
	if err := push.ValidateRuleID(id); err != nil {
		return err
	}
	q := r.URL.Query()
	before, after := q.Get("before"), q.Get("after")
	body, err := httpapi.ReadBody(r, a.cfg.Client.MaxRequestBytes)
	if err != nil {
		return err
	}
	var obj map[string]json.RawMessage
	if err := httpapi.DecodeJSON(body, &obj); err != nil {
		return err
	}
	if len(body) == 0 {
		body = []byte("{}")
	}
	rule, err := push.ParseRuleBody(k, id, body)
	if err != nil {
		return err
	}
	return a.changeRules(w, r, s, func(u *push.UserRules) error { return u.Put(rule, before, after) })
}

func (a *API) deletePushRule(w http.ResponseWriter, r *http.Request, s *Session) error {
	k, id, err := pathRule(r)
	if err != nil {
		return err
	}
	return a.changeRules(w, r, s, func(u *push.UserRules) error { return u.Delete(s.UserID, k, id) })
}

func (a *API) putPushRuleEnabled(w http.ResponseWriter, r *http.Request, s *Session) error {
	k, id, err := pathRule(r)
	if err != nil {
		return err
	}
	var req struct {
		Enabled *bool `json:"enabled"`
	}
	if err := a.readJSON(r, &req); err != nil {
		return err
	}
	if req.Enabled == nil {
		return matrix.MissingParam("Missing enabled")
	}
	return a.changeRules(w, r, s, func(u *push.UserRules) error { return u.SetEnabled(s.UserID, k, id, *req.Enabled) })
}

func (a *API) putPushRuleActions(w http.ResponseWriter, r *http.Request, s *Session) error {
	k, id, err := pathRule(r)
	if err != nil {
		return err
	}
	var req struct {
		Actions json.RawMessage `json:"actions"`
	}
	if err := a.readJSON(r, &req); err != nil {
		return err
	}
	if len(req.Actions) == 0 || string(req.Actions) == "null" {
		return matrix.MissingParam("Missing actions")
	}
	if len(req.Actions) > push.MaxRuleBytes {
		return matrix.Errorf(http.StatusBadRequest, matrix.ErrTooLarge, "A push rule is at most %d bytes", push.MaxRuleBytes)
	}
	actions, err := push.ParseActions(req.Actions)
	if err != nil {
		return err
	}
	return a.changeRules(w, r, s, func(u *push.UserRules) error { return u.SetActions(s.UserID, k, id, actions) })
}

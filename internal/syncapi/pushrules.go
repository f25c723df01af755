package syncapi

import (
	"context"

	"chappe.eu/chappe/internal/push"
)

// m.push_rules in the top-level account_data ("Push Rules: Events"): the
// whole ruleset, in an initial or full-state sync and whenever the user
// changed their rules in (since, upto]. Push rules are not stored as
// account data (store.PushRules keeps the user's changes), so this section
// is separate from accountdata.go's.

func init() { globalSections = append(globalSections, (*API).pushRulesSection) }

func (a *API) pushRulesSection(ctx context.Context, req *request, resp *response) (bool, error) {
	if !req.filter.AccountData.Match("m.push_rules", "") {
		return false, nil
	}
	whole := req.sinceTok == Token{} || req.fullState
	if !whole && !a.db.PushRulesChangedSince(req.userID, req.since) {
		return false, nil // store/changes.go
	}
	doc, pos, err := a.db.PushRules(ctx, req.userID)
	if err != nil {
		return false, err
	}
	if !whole && (pos <= req.since || pos > req.upto) {
		return false, nil
	}
	u, err := push.ParseUserRules(doc)
	if err != nil {
		return false, err
	}
	resp.AccountData.Events = append(resp.AccountData.Events, map[string]any{
		"type": "m.push_rules", "content": map[string]any{"global": u.Ruleset(req.userID)},
	})
	return true, nil
}

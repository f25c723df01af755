package syncapi

import (
	"context"
	"maps"
)

// device_lists, device_one_time_keys_count and
// device_unused_fallback_key_types (spec: "Extensions to /sync" of
// end-to-end encryption). Device lists are only for incremental syncs:
// after an initial sync a client queries the keys of the users it tracks.

func init() { globalSections = append(globalSections, (*API).deviceListsSection) }

func (a *API) deviceListsSection(ctx context.Context, req *request, resp *response) (bool, error) {
	counts, types, err := a.db.DeviceKeyCounts(ctx, req.userID, req.deviceID)
	if err != nil {
		return false, err
	}
	resp.OTKCounts = maps.Clone(counts) // the store's is shared
	if _, ok := counts["signed_curve25519"]; !ok {
		resp.OTKCounts["signed_curve25519"] = 0 // as Synapse: tells clients the server counts them
	}
	resp.FallbackKeyTypes = nonNilStrings(types)
	if req.sinceTok == (Token{}) {
		return false, nil
	}
	if !a.db.DeviceListsChangedSince(req.since) && !a.db.MembersChangedSince(req.since) {
		return false, nil // store/changes.go
	}
	changed, left, err := a.db.DeviceListChanges(ctx, req.userID, req.since, req.upto)
	if err != nil {
		return false, err
	}
	resp.DeviceLists = map[string]any{"changed": nonNilStrings(changed), "left": nonNilStrings(left)}
	// Key counts change when others claim keys; they do not end a
	// long-poll, as in Synapse: the device learns them on its next sync.
	return len(changed)+len(left) > 0, nil
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

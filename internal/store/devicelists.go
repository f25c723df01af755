package store

import (
	"context"
	"slices"
)

// Device lists (spec: "Tracking the device list for a user"). A change is
// a row at a position of the global stream, so /sync's token covers it.

// recordDeviceListChangeTx records that userID's devices or keys changed,
// for everyone who shares a room with them (viewer "") or for viewer
// alone, at the next stream position.
func recordDeviceListChangeTx(ctx context.Context, tx *wtx, userID, viewer string) (int64, error) {
	pos, err := nextPosTx(ctx, tx, keyDeviceLists)
	if err != nil {
		return 0, err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO e2e_device_list_changes (stream_pos, user_id, viewer) VALUES ($1, $2, $3)`, pos, userID, viewer)
	return pos, err
}

// deviceListsChanged tells OnDeviceListChange, after a commit that deleted
// devices, that the user's device list changed.
func (db *DB) deviceListsChanged(ctx context.Context, userID string) {
	if db.OnDeviceListChange == nil {
		return
	}
	pos, err := db.StreamPos(ctx)
	if err != nil {
		return // the change is stored; waiting /syncs see it when they wake
	}
	db.OnDeviceListChange(userID, pos)
}

// UsersSharingRooms returns the users joined to at least one room that
// userID is joined to, userID included if they are joined anywhere:
// whose /syncs hear of userID's device list changes.
func (db *DB) UsersSharingRooms(ctx context.Context, userID string) ([]string, error) {
	return db.strings(ctx, `SELECT DISTINCT b.state_key FROM current_state a
		JOIN current_state b ON b.room_id = a.room_id AND b.type = 'm.room.member' AND b.membership = 'join'
		WHERE a.type = 'm.room.member' AND a.state_key = $1 AND a.membership = 'join'`, userID)
}

// DeviceListChanges returns what /sync's device_lists and /keys/changes
// report to userID for the stream positions (from, to]:
//
//   - changed: users sharing a room with userID now whose devices or
//     cross-signing keys changed, and users who began to share a room with
//     them (either joined a room the other is in); userID's own changes
//     always;
//   - left: users with whom userID shared a room and shares none now,
//     after a leave in (from, to].
//
// Rooms count whether or not they are encrypted, as in Synapse: a client
// tracks the users of its encrypted rooms and ignores the others.
func (db *DB) DeviceListChanges(ctx context.Context, userID string, from, to int64) (changed, left []string, err error) {
	if from >= to {
		return nil, nil, nil
	}
	// Why each user may concern userID.
	const (
		keysChanged = 1 << iota
		joined      // began to share a room, maybe
		departed    // stopped sharing a room, maybe
	)
	candidates := map[string]int{}
	rows, err := db.read.QueryContext(ctx, `SELECT DISTINCT user_id FROM e2e_device_list_changes
		WHERE stream_pos > $1 AND stream_pos <= $2 AND (viewer = '' OR viewer = $3)`, from, to, userID)
	if err != nil {
		return nil, nil, err
	}
	var ownChange bool
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			rows.Close()
			return nil, nil, err
		}
		if u == userID {
			ownChange = true
		} else {
			candidates[u] |= keysChanged
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}

	// Membership changes in the rooms userID has a membership in.
	type change struct{ room, user, membership string }
	var changes []change
	rows, err = db.read.QueryContext(ctx, `SELECT e.room_id, e.state_key, COALESCE(e.membership, '') FROM events e
		JOIN current_state c ON c.room_id = e.room_id AND c.type = 'm.room.member' AND c.state_key = $3
		WHERE e.type = 'm.room.member' AND e.stream_pos > $1 AND e.stream_pos <= $2 ORDER BY e.stream_pos`, from, to, userID)
	if err != nil {
		return nil, nil, err
	}
	for rows.Next() {
		var c change
		if err := rows.Scan(&c.room, &c.user, &c.membership); err != nil {
			rows.Close()
			return nil, nil, err
		}
		changes = append(changes, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	why := func(membership string) int {
		switch membership {
		case "join":
			return joined
		case "leave", "ban":
			return departed
		}
		return 0 // invites and knocks share nothing yet
	}
	for _, c := range changes {
		if c.user != userID {
			candidates[c.user] |= why(c.membership)
			continue
		}
		// userID's own membership changed: the room's members may have
		// begun or stopped sharing a room with them.
		members, err := db.RoomMembers(ctx, c.room, "join")
		if err != nil {
			return nil, nil, err
		}
		for _, m := range members {
			if m != userID {
				candidates[m] |= why(c.membership)
			}
		}
	}
	if ownChange {
		changed = append(changed, userID)
	}
	if len(candidates) == 0 {
		return changed, nil, nil
	}
	sharing, err := db.UsersSharingRooms(ctx, userID)
	if err != nil {
		return nil, nil, err
	}
	shares := make(map[string]bool, len(sharing))
	for _, u := range sharing {
		shares[u] = true
	}
	for u, w := range candidates {
		switch {
		case shares[u] && w&(keysChanged|joined) != 0:
			changed = append(changed, u)
		case !shares[u] && w&(joined|departed) != 0:
			left = append(left, u)
		}
	}
	slices.Sort(changed)
	slices.Sort(left)
	return changed, left, nil
}

// deleteDeviceE2ETx removes what end-to-end encryption kept for a device
// being deleted (its keys, the signatures on it and by it, its pending
// to-device messages and to-device transaction IDs, a dehydrated device
// record) and records the change of its user's device list.
func deleteDeviceE2ETx(ctx context.Context, tx *wtx, userID, deviceID string) error {
	tx.touch(keyDeviceKeys(userID, deviceID))
	for _, q := range []string{
		`DELETE FROM e2e_device_keys WHERE user_id = $1 AND device_id = $2`,
		`DELETE FROM e2e_one_time_keys WHERE user_id = $1 AND device_id = $2`,
		`DELETE FROM e2e_fallback_keys WHERE user_id = $1 AND device_id = $2`,
		`DELETE FROM e2e_to_device WHERE user_id = $1 AND device_id = $2`,
		`DELETE FROM e2e_to_device_txns WHERE user_id = $1 AND device_id = $2`,
		`DELETE FROM e2e_signatures WHERE target_user = $1 AND target_key = $2`,
		`DELETE FROM e2e_signatures WHERE signer_user = $1 AND signer_key = 'ed25519:' || CAST($2 AS TEXT)`,
		`DELETE FROM e2e_dehydrated_devices WHERE user_id = $1 AND device_id = $2`,
	} {
		if _, err := tx.ExecContext(ctx, q, userID, deviceID); err != nil {
			return err
		}
	}
	_, err := recordDeviceListChangeTx(ctx, tx, userID, "")
	return err
}

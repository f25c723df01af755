package store

import (
	"strconv"
	"testing"
)

// TestChangeLog: a key counts as changed at every position while a
// transaction that touches it is open, at its commit position once it
// commits, not at all if it rolls back; positions before the floor are
// always unknown; a full log empties and raises its floor.
func TestChangeLog(t *testing.T) {
	var c changeLog
	c.floor = 10
	if !c.changedSince("k", 9) {
		t.Error("a position before the floor must count as changed")
	}
	if c.changedSince("k", 10) {
		t.Error("an untouched key changed since the floor")
	}
	c.begin("k")
	if !c.changedSince("k", 1000) {
		t.Error("a key with a write in flight must count as changed")
	}
	c.end([]string{"k"}, 0, 12, true)
	if !c.changedSince("k", 11) || c.changedSince("k", 12) {
		t.Error("a committed change at 12: changed since 11, not since 12")
	}
	c.begin("r")
	c.end([]string{"r"}, 0, 13, false)
	if c.changedSince("r", 10) {
		t.Error("a rolled back change counts")
	}
	c.begin("k")
	c.begin("k")
	c.end([]string{"k"}, 0, 14, true)
	if !c.changedSince("k", 20) {
		t.Error("one of two writes in flight ended; the key must still count as changed")
	}
	c.end([]string{"k"}, 0, 15, true)
	if c.changedSince("k", 15) {
		t.Error("both writes ended at 15 at most")
	}
	for i := range maxChangeKeys { // with "k", one key too many
		c.begin(strconv.Itoa(i))
		c.end([]string{strconv.Itoa(i)}, 0, int64(100+i%7), true)
	}
	if c.floor != 106 || len(c.last) != 0 {
		t.Errorf("after overflowing: floor %d, %d keys; want 106, 0", c.floor, len(c.last))
	}

	// Transactions that took positions settle in any order: a position is
	// settled once every transaction that took one at or before it ended.
	c.tookFirstPos(200)
	c.tookFirstPos(203)
	if !c.settledUpTo(199) || c.settledUpTo(200) || c.settledUpTo(205) {
		t.Error("positions from 200 are in flight")
	}
	c.end(nil, 203, 204, true) // the later one settles first
	if c.settledUpTo(204) || !c.settledUpTo(199) {
		t.Error("the transaction at 200 is still in flight")
	}
	c.end(nil, 200, 202, false)
	if !c.settledUpTo(1000) {
		t.Error("every transaction ended")
	}
}

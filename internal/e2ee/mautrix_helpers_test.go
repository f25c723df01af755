//go:build goolm

package e2ee_test

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
	"maunium.net/go/mautrix/sqlstatestore"
	_ "modernc.org/sqlite"

	"chappe.eu/chappe/internal/testserver"
)

// These tests drive Chappe with an independent client library:
// mautrix-go's OlmMachine with its pure-Go Olm/Megolm (build tag goolm)
// and its SQL crypto and state stores on SQLite, wired to a mautrix
// client the way its cryptohelper does. cryptohelper itself is not used:
// it imports a cgo SQLite driver, and we keep the build free of cgo; its
// wiring is the dozen lines of newClient.

// e2eClient is one logged-in device with its own crypto state.
type e2eClient struct {
	t     testing.TB
	cli   *mautrix.Client
	mach  *crypto.OlmMachine
	state *sqlstatestore.SQLStateStore
	since string

	mu        sync.Mutex
	decrypted map[id.EventID]string // body of each message decrypted
	failed    map[id.EventID]*event.Event
}

// testLog forwards zerolog output to t.Log while the test runs; mautrix
// logs from goroutines that may outlive it.
type testLog struct {
	t    testing.TB
	done atomic.Bool
}

func (w *testLog) Write(p []byte) (int, error) {
	if !w.done.Load() {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// newClient sets up the device of c with a fresh crypto store and uploads
// its keys.
func newClient(t testing.TB, srv *testserver.Server, c *testserver.Client) *e2eClient {
	t.Helper()
	ctx := context.Background()
	lw := &testLog{t: t}
	t.Cleanup(func() { lw.done.Store(true) })
	log := zerolog.New(zerolog.ConsoleWriter{Out: lw, NoColor: true, PartsExclude: []string{zerolog.TimestampFieldName}}).Level(zerolog.WarnLevel).With().Str("device", c.DeviceID).Logger()

	cli, err := mautrix.NewClient(srv.URL, id.UserID(c.UserID), c.Token)
	if err != nil {
		t.Fatal(err)
	}
	cli.DeviceID = id.DeviceID(c.DeviceID)
	cli.Log = log

	path := filepath.Join(t.TempDir(), "crypto.db")
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	db, err := dbutil.NewWithDB(raw, "sqlite3")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	state := sqlstatestore.NewSQLStateStore(db, dbutil.ZeroLogger(log), false)
	if err := state.Upgrade(ctx); err != nil {
		t.Fatal(err)
	}
	cli.StateStore = state
	store := crypto.NewSQLCryptoStore(db, dbutil.ZeroLogger(log), "", cli.DeviceID, []byte("test pickle key"))
	if err := store.DB.Upgrade(ctx); err != nil {
		t.Fatal(err)
	}
	mach := crypto.NewOlmMachine(cli, &log, store, state)
	if err := mach.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if err := mach.ShareKeys(ctx, -1); err != nil {
		t.Fatalf("uploading %s's keys: %v", c.DeviceID, err)
	}
	e := &e2eClient{t: t, cli: cli, mach: mach, state: state, decrypted: map[id.EventID]string{}, failed: map[id.EventID]*event.Event{}}
	syncer := cli.Syncer.(*mautrix.DefaultSyncer)
	syncer.OnSync(mach.ProcessSyncResponse)
	syncer.OnEvent(cli.StateStoreSyncHandler)
	syncer.OnEventType(event.StateMember, mach.HandleMemberEvent)
	syncer.OnEventType(event.EventEncrypted, func(ctx context.Context, evt *event.Event) { e.decrypt(ctx, evt) })
	return e
}

func (e *e2eClient) decrypt(ctx context.Context, evt *event.Event) {
	dec, err := e.mach.DecryptMegolmEvent(ctx, evt)
	e.mu.Lock()
	defer e.mu.Unlock()
	if err != nil {
		e.failed[evt.ID] = evt
		return
	}
	if msg := dec.Content.AsMessage(); msg != nil {
		e.decrypted[evt.ID] = msg.Body
		delete(e.failed, evt.ID)
	}
}

// retryFailed decrypts again the events that failed (after keys arrived
// another way, such as key backup).
func (e *e2eClient) retryFailed() {
	e.mu.Lock()
	evs := make([]*event.Event, 0, len(e.failed))
	for _, ev := range e.failed {
		evs = append(evs, ev)
	}
	e.mu.Unlock()
	for _, ev := range evs {
		e.decrypt(context.Background(), ev)
	}
}

func (e *e2eClient) body(evID id.EventID) (string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	b, ok := e.decrypted[evID]
	return b, ok
}

// sync runs one /sync without waiting and processes it as the client
// library does: device lists, to-device (Olm, room keys), then events.
func (e *e2eClient) sync() *mautrix.RespSync {
	e.t.Helper()
	ctx := context.Background()
	resp, err := e.cli.FullSyncRequest(ctx, mautrix.ReqSync{Since: e.since, Timeout: 0})
	if err != nil {
		e.t.Fatalf("%s: sync: %v", e.cli.DeviceID, err)
	}
	if err := e.cli.Syncer.ProcessResponse(ctx, resp, e.since); err != nil {
		e.t.Fatalf("%s: processing sync: %v", e.cli.DeviceID, err)
	}
	e.since = resp.NextBatch
	return resp
}

// send encrypts a message for the room's members and sends it, sharing
// the Megolm session first when needed (what cryptohelper.Encrypt does).
func (e *e2eClient) send(roomID id.RoomID, body string) id.EventID {
	e.t.Helper()
	ctx := context.Background()
	content := &event.MessageEventContent{MsgType: event.MsgText, Body: body}
	enc, err := e.mach.EncryptMegolmEvent(ctx, roomID, event.EventMessage, content)
	if errors.Is(err, crypto.ErrSessionExpired) || errors.Is(err, crypto.ErrNoGroupSession) || errors.Is(err, crypto.ErrSessionNotShared) {
		members, merr := e.state.GetRoomJoinedOrInvitedMembers(ctx, roomID)
		if merr != nil {
			e.t.Fatal(merr)
		}
		if err = e.mach.ShareGroupSession(ctx, roomID, members); err != nil {
			e.t.Fatalf("%s: sharing the group session: %v", e.cli.DeviceID, err)
		}
		enc, err = e.mach.EncryptMegolmEvent(ctx, roomID, event.EventMessage, content)
	}
	if err != nil {
		e.t.Fatalf("%s: encrypting: %v", e.cli.DeviceID, err)
	}
	resp, err := e.cli.SendMessageEvent(ctx, roomID, event.EventEncrypted, enc)
	if err != nil {
		e.t.Fatalf("%s: sending: %v", e.cli.DeviceID, err)
	}
	return resp.EventID
}

// expect syncs until the event is decrypted (a few rounds: keys may come
// in a later response than the event) and checks its body.
func (e *e2eClient) expect(evID id.EventID, want string) {
	e.t.Helper()
	for range 5 {
		e.sync()
		if got, ok := e.body(evID); ok {
			if got != want {
				e.t.Fatalf("%s decrypted %s as %q; want %q", e.cli.DeviceID, evID, got, want)
			}
			return
		}
	}
	e.t.Fatalf("%s could not decrypt %s", e.cli.DeviceID, evID)
}

// pointAt makes the client talk to a restarted server.
func (e *e2eClient) pointAt(srv *testserver.Server) {
	u, err := url.Parse(srv.URL)
	if err != nil {
		e.t.Fatal(err)
	}
	e.cli.HomeserverURL = u
}

// privateRoom creates an encrypted private room of a's that the others
// join, and syncs everyone so that their state stores know it.
func privateRoom(t testing.TB, a *e2eClient, others ...*e2eClient) id.RoomID {
	t.Helper()
	ctx := context.Background()
	invite := make([]id.UserID, len(others))
	for i, o := range others {
		invite[i] = o.cli.UserID
	}
	resp, err := a.cli.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Invite: invite})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range others {
		if _, err := o.cli.JoinRoomByID(ctx, resp.RoomID); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range append([]*e2eClient{a}, others...) {
		c.sync()
		if enc, err := c.state.IsEncrypted(ctx, resp.RoomID); err != nil || !enc {
			t.Fatalf("%s: room %s is not encrypted (%v): the server should encrypt private rooms by default", c.cli.DeviceID, resp.RoomID, err)
		}
	}
	return resp.RoomID
}

package store_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"chappe.eu/chappe/internal/store"
	"chappe.eu/chappe/internal/testserver"
)

func open(t *testing.T, dsn, dir string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), dsn, dir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return db
}

// Migrations run once; reopening applies nothing and keeps the data; a
// database whose schema is newer than the binary is refused.
func TestMigrationsAndNewerSchema(t *testing.T) {
	ctx := context.Background()
	for _, engine := range testserver.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			dsn, dir := testserver.NewDatabase(t, engine), t.TempDir()
			db := open(t, dsn, dir)
			if err := db.CreateAccount(ctx, store.Account{UserID: "@a:x"}); err != nil {
				t.Fatal(err)
			}
			db.Close()

			db = open(t, dsn, dir)
			if ok, err := db.AccountExists(ctx, "@a:x"); !ok || err != nil {
				t.Fatalf("AccountExists after reopen = %v, %v; want true, nil", ok, err)
			}
			if err := db.MarkSchemaVersionForTest(ctx, store.SchemaVersion()+1); err != nil {
				t.Fatal(err)
			}
			db.Close()

			_, err := store.Open(ctx, dsn, dir)
			if err == nil || !strings.Contains(err.Error(), "newer") {
				t.Fatalf("Open of a newer schema = %v; want a refusal", err)
			}
		})
	}
}

func TestCreateAccountConflict(t *testing.T) {
	ctx := context.Background()
	for _, engine := range testserver.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			db := open(t, testserver.NewDatabase(t, engine), t.TempDir())
			defer db.Close()
			if err := db.CreateAccount(ctx, store.Account{UserID: "@a:x"}); err != nil {
				t.Fatal(err)
			}
			if err := db.CreateAccount(ctx, store.Account{UserID: "@a:x"}); err != store.ErrConflict {
				t.Fatalf("second CreateAccount = %v; want ErrConflict", err)
			}
		})
	}
}

// A registration token with N uses allows exactly N concurrent
// reservations, on both engines.
func TestReserveRegistrationTokenConcurrently(t *testing.T) {
	ctx := context.Background()
	for _, engine := range testserver.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			db := open(t, testserver.NewDatabase(t, engine), t.TempDir())
			defer db.Close()
			uses := int64(5)
			if err := db.CreateRegistrationToken(ctx, store.RegistrationToken{Token: "tok", UsesAllowed: &uses}); err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			granted := 0
			var wg sync.WaitGroup
			for range 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ok, err := db.ReserveRegistrationToken(ctx, "tok")
					if err != nil {
						t.Error(err)
					}
					if ok {
						mu.Lock()
						granted++
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if granted != int(uses) {
				t.Fatalf("granted %d reservations; want exactly %d", granted, uses)
			}
		})
	}
}

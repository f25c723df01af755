package clientapi_test

import (
	"io"
	"net/http"
	"testing"

	"chappe.eu/chappe/internal/testserver"
)

// BenchmarkWhoami measures the cost every authenticated request pays:
// HTTP over loopback, token hash lookup, JSON answer.
func BenchmarkWhoami(b *testing.B) {
	for _, engine := range testserver.Engines(b) {
		b.Run(engine, func(b *testing.B) {
			srv := testserver.Start(b, engine, nil)
			alice := srv.Register(b, "alice", "correct horse")
			req, _ := http.NewRequest("GET", srv.URL+"/_matrix/client/v3/account/whoami", nil)
			req.Header.Set("Authorization", "Bearer "+alice.Token)
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := client.Do(req.Clone(req.Context()))
					if err != nil {
						b.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body) // so the connection is reused
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Fatalf("whoami = %d", resp.StatusCode)
					}
				}
			})
		})
	}
}

// BenchmarkLogin measures password login: dominated by argon2id.
func BenchmarkLogin(b *testing.B) {
	srv := testserver.Start(b, "sqlite", nil)
	srv.Register(b, "alice", "correct horse")
	b.ResetTimer()
	for range b.N {
		srv.Login(b, "alice", "correct horse")
	}
}

package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"chappe.eu/chappe/internal/testserver"
)

func TestBadConfigExitsTwoNamingTheKey(t *testing.T) {
	t.Setenv("CHAPPE_REGISTRATION", "sometimes")
	var out, errOut bytes.Buffer
	if code := run([]string{"serve"}, strings.NewReader(""), &out, &errOut); code != exitBadConfig {
		t.Fatalf("run(serve) with a bad config = %d; want %d", code, exitBadConfig)
	}
	if !strings.Contains(errOut.String(), "registration.mode") {
		t.Fatalf("stderr = %q; want it to name registration.mode", errOut.String())
	}
}

func TestVersionAndGenerateConfig(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"version"}, nil, &out, &out); code != 0 || !strings.HasPrefix(out.String(), "chappe ") {
		t.Fatalf("version = %d %q", code, out.String())
	}
	out.Reset()
	if code := run([]string{"generate-config"}, nil, &out, &out); code != 0 || !strings.Contains(out.String(), "server_name: localhost") {
		t.Fatalf("generate-config = %d %q", code, out.String())
	}
	if code := run([]string{"frobnicate"}, nil, &out, &out); code != exitBadConfig {
		t.Fatalf("unknown command = %d; want %d", code, exitBadConfig)
	}
}

func TestUserAdd(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("CHAPPE_DATA_DIR", dir)
	var out, errOut bytes.Buffer
	if code := run([]string{"user", "add", "--admin", "root"}, strings.NewReader("hunter2hunter2\n"), &out, &errOut); code != 0 {
		t.Fatalf("user add = %d, stderr %q", code, errOut.String())
	}
	if !strings.Contains(out.String(), "@root:localhost (administrator)") {
		t.Fatalf("stdout = %q", out.String())
	}
	out.Reset()
	errOut.Reset()
	if code := run([]string{"user", "add", "root"}, strings.NewReader("x\n"), &out, &errOut); code == 0 {
		t.Fatal("adding a taken user succeeded")
	}
	if code := run([]string{"user", "add", "Bad Name"}, strings.NewReader("x\n"), &out, &errOut); code != exitBadConfig {
		t.Fatalf("user add with an invalid name = %d; want %d", code, exitBadConfig)
	}
	// A generated password is printed once.
	out.Reset()
	if code := run([]string{"user", "add", "bob"}, strings.NewReader(""), &out, &errOut); code != 0 || !strings.Contains(out.String(), "password: ") {
		t.Fatalf("user add without a password = %d %q", code, out.String())
	}
}

// buildBinary builds cmd/chappe once per test run.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "chappe")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startBinary runs the real binary with the environment operators use and
// waits for /health.
func startBinary(t *testing.T, bin string, env []string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), env...)
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, &logs
}

func waitHealthy(t *testing.T, url string, logs *bytes.Buffer) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url + "/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("server never became healthy; logs:\n%s", logs)
}

func postJSON(t *testing.T, url string, body any) (int, map[string]any) {
	t.Helper()
	data, _ := json.Marshal(body)
	resp, err := http.Post(url, "application/json", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// TestSIGTERMKeepsWhatWasAcknowledged runs the real binary on each engine,
// registers an account with the shared secret (as register_new_matrix_user
// does), stops the server with SIGTERM, restarts it and logs in: nothing
// acknowledged is lost, and the shutdown is clean (exit status 0).
func TestSIGTERMKeepsWhatWasAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	for _, engine := range testserver.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			addr := freeAddr(t)
			url := "http://" + addr
			env := []string{
				"CHAPPE_CLIENT_ADDR=" + addr,
				"CHAPPE_DATA_DIR=" + t.TempDir(),
				"CHAPPE_DATABASE=" + testserver.NewDatabase(t, engine),
				"CHAPPE_SERVER_NAME=sigterm.test",
				"CHAPPE_REGISTRATION_SHARED_SECRET=s3cret",
				"CHAPPE_RATELIMIT=off",
			}
			cmd, logs := startBinary(t, bin, env)
			waitHealthy(t, url, logs)

			resp, err := http.Get(url + "/_synapse/admin/v1/register")
			if err != nil {
				t.Fatal(err)
			}
			var nonce struct{ Nonce string }
			json.NewDecoder(resp.Body).Decode(&nonce)
			resp.Body.Close()
			mac := hmac.New(sha1.New, []byte("s3cret"))
			fmt.Fprintf(mac, "%s\x00carol\x00long enough pw\x00notadmin", nonce.Nonce)
			status, body := postJSON(t, url+"/_synapse/admin/v1/register", map[string]any{
				"nonce": nonce.Nonce, "username": "carol", "password": "long enough pw", "admin": false,
				"mac": hex.EncodeToString(mac.Sum(nil)),
			})
			if status != 200 {
				t.Fatalf("shared-secret register = %d %v", status, body)
			}

			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("exit after SIGTERM: %v; logs:\n%s", err, logs)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("no exit 30 s after SIGTERM; logs:\n%s", logs)
			}

			_, logs = startBinary(t, bin, env)
			waitHealthy(t, url, logs)
			status, body = postJSON(t, url+"/_matrix/client/v3/login", map[string]any{
				"type": "m.login.password", "identifier": map[string]any{"type": "m.id.user", "user": "carol"},
				"password": "long enough pw",
			})
			if status != 200 || body["user_id"] != "@carol:sigterm.test" {
				t.Fatalf("login after restart = %d %v; want 200 for @carol:sigterm.test", status, body)
			}
		})
	}
}

package media_test

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"chappe.eu/chappe/internal/config"
	"chappe.eu/chappe/internal/media"
)

// clamd is a real clamd started for a test, with a signature database the
// test writes (public signature feeds are not downloaded).
type clamd struct {
	t      *testing.T
	dir    string
	socket string
	cmd    *exec.Cmd
}

// startClamd starts clamd with hash signatures for each of samples. Where
// clamd is not installed (scripts/install-test-deps installs Debian's
// clamav-daemon) the test fails under CI=true and is skipped loudly
// otherwise.
func startClamd(t *testing.T, samples map[string][]byte) *clamd {
	t.Helper()
	bin, err := exec.LookPath("clamd")
	if err != nil {
		for _, p := range []string{"/usr/sbin/clamd", "/usr/local/sbin/clamd"} {
			if _, err := os.Stat(p); err == nil {
				bin = p
			}
		}
	}
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("clamd is not installed, and CI=true requires it (scripts/install-test-deps installs clamav-daemon)")
		}
		t.Skip("WARNING: clamd is not installed: SKIPPING THE VIRUS SCANNING TEST (apt-get install clamav-daemon)")
	}
	// A short path: unix socket paths are limited to about 100 bytes.
	dir, err := os.MkdirTemp("", "clamd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	c := &clamd{t: t, dir: dir, socket: filepath.Join(dir, "clamd.sock")}
	os.Mkdir(filepath.Join(dir, "db"), 0o755)
	c.writeSignatures(samples)
	conf := fmt.Sprintf(`LocalSocket %s
DatabaseDirectory %s
TemporaryDirectory %s
LogFile %s
Foreground yes
StreamMaxLength 64M
MaxFileSize 64M
MaxScanSize 64M
Bytecode no
`, c.socket, filepath.Join(dir, "db"), dir, filepath.Join(dir, "clamd.log"))
	confPath := filepath.Join(dir, "clamd.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	c.cmd = exec.Command(bin, "--config-file="+confPath)
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("starting clamd: %v", err)
	}
	t.Cleanup(c.stop)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if reply, err := c.command("zPING\x00"); err == nil && strings.HasPrefix(reply, "PONG") {
			return c
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "clamd.log"))
			t.Fatalf("clamd did not answer on %s within 60s; its log:\n%s", c.socket, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// writeSignatures writes an MD5 hash signature (md5:size:name) per sample.
func (c *clamd) writeSignatures(samples map[string][]byte) {
	var b strings.Builder
	for name, data := range samples {
		sum := md5.Sum(data)
		fmt.Fprintf(&b, "%s:%d:%s\n", hex.EncodeToString(sum[:]), len(data), name)
	}
	if err := os.WriteFile(filepath.Join(c.dir, "db", "chappe-test.hdb"), []byte(b.String()), 0o644); err != nil {
		c.t.Fatal(err)
	}
}

// reload makes clamd read its signatures again, and waits until its
// verdicts on the test contents follow them (clamd reloads in the
// background and answers with the old signatures meanwhile).
func (c *clamd) reload(samples map[string][]byte) {
	c.t.Helper()
	c.writeSignatures(samples)
	if reply, err := c.command("zRELOAD\x00"); err != nil || !strings.HasPrefix(reply, "RELOADING") {
		c.t.Fatalf("clamd RELOAD = %q, %v", reply, err)
	}
	s := &media.ClamAV{Socket: c.socket, Timeout: 10 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		ready := true
		for _, content := range [][]byte{malware, becomesBad} {
			want := false
			for _, sig := range samples {
				want = want || bytes.Equal(sig, content)
			}
			threat, err := s.Scan(c.t.Context(), bytes.NewReader(content))
			if err != nil || (threat != "") != want {
				ready = false
			}
		}
		if ready {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatal("clamd did not apply the new signatures within 60s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (c *clamd) command(cmd string) (string, error) {
	conn, err := net.DialTimeout("unix", c.socket, time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte(cmd)); err != nil {
		return "", err
	}
	buf := make([]byte, 256)
	n, err := conn.Read(buf)
	return strings.TrimRight(string(buf[:n]), "\x00\n"), err
}

func (c *clamd) stop() {
	if c.cmd.Process != nil {
		c.cmd.Process.Kill()
		c.cmd.Wait()
	}
}

var (
	malware = []byte("CHAPPE-TEST-MALWARE: a harmless file that the test's signature names\n")
	// becomesBad is clean when uploaded, and named by a signature later.
	becomesBad = []byte("CHAPPE-TEST: clean today, in tomorrow's signatures\n")
)

// The ClamAV scanner against a real clamd.
func TestClamAVScanner(t *testing.T) {
	cd := startClamd(t, map[string][]byte{"Chappe.Test.Malware": malware})
	s := &media.ClamAV{Socket: cd.socket, Timeout: 30 * time.Second}
	threat, err := s.Scan(t.Context(), strings.NewReader(string(malware)))
	if err != nil || !strings.Contains(threat, "Chappe.Test.Malware") {
		t.Errorf("Scan(malware) = %q, %v; want Chappe.Test.Malware", threat, err)
	}
	threat, err = s.Scan(t.Context(), strings.NewReader(strings.Repeat("clean ", 100_000)))
	if err != nil || threat != "" {
		t.Errorf("Scan(clean 600 KB) = %q, %v; want clean", threat, err)
	}
	bad := &media.ClamAV{Socket: filepath.Join(cd.dir, "nonexistent.sock"), Timeout: time.Second}
	if _, err := bad.Scan(t.Context(), strings.NewReader("x")); err == nil {
		t.Error("Scan through a missing socket succeeded")
	}
}

// Uploads are scanned; infected content is refused and never stored, and
// content found infected when served later is quarantined.
func TestScanningOverHTTP(t *testing.T) {
	cd := startClamd(t, map[string][]byte{"Chappe.Test.Malware": malware})
	forEachEngine(t, func(c *config.Config) {
		c.Media.Scan.ClamdSocket = cd.socket
		c.Media.Scan.RescanAfter = time.Minute
	}, func(t *testing.T, e *env) {
		cd.reload(map[string][]byte{"Chappe.Test.Malware": malware}) // as the previous engine's run left it
		clean := e.upload(e.alice, pngBytes(t, 200, 100), "image/png", "clean.png")
		if r := e.get(e.alice, mediaV1+"/download/"+mediaPath(clean)); r.status != 200 {
			t.Fatalf("download of clean media = %d %s", r.status, r.body)
		}
		r := e.uploadRaw(e.alice, malware, "application/octet-stream", "evil.bin")
		if r.status != 403 || r.errcode(t) != "M_FORBIDDEN" || r.json(t)["reason"] != "MCS_MEDIA_NOT_CLEAN" {
			t.Errorf("infected upload = %d %s; want 403 M_FORBIDDEN, reason MCS_MEDIA_NOT_CLEAN", r.status, r.body)
		}
		if _, err := os.Stat(blobPath(e, malware)); !os.IsNotExist(err) {
			t.Errorf("infected content was stored: %v", err)
		}
		// Asynchronous uploads too.
		mxc, _ := e.create(e.alice)
		if r := e.put(e.alice, mxc, malware, "text/plain"); r.status != 403 {
			t.Errorf("infected PUT = %d %s; want 403", r.status, r.body)
		}

		// Content clean at upload and named by a signature later.
		a := e.upload(e.alice, becomesBad, "text/plain", "")
		bob := e.srv.Register(t, "bob", "password1")
		b := e.upload(bob, becomesBad, "text/plain", "")
		cd.reload(map[string][]byte{"Chappe.Test.Malware": malware, "Chappe.Test.Later": becomesBad})
		// Still served while its verdict is fresh…
		if r := e.get(e.alice, mediaV1+"/download/"+mediaPath(a)); r.status != 200 {
			t.Errorf("download with a fresh verdict = %d", r.status)
		}
		// …and scanned again once it is stale.
		e.exec(`UPDATE media_blobs SET scanned_ts = $1 WHERE sha256 = $2`, time.Now().Add(-time.Hour).UnixMilli(), sha256Hex(becomesBad))
		r = e.get(e.alice, mediaV1+"/download/"+mediaPath(a))
		if r.status != 403 || r.json(t)["reason"] != "MCS_MEDIA_NOT_CLEAN" {
			t.Errorf("download of content now infected = %d %s; want 403 MCS_MEDIA_NOT_CLEAN", r.status, r.body)
		}
		// Quarantined by content: bob's copy is refused too, without a new scan.
		if r := e.get(bob, mediaV1+"/download/"+mediaPath(b)); r.status != 403 {
			t.Errorf("download of the same content under another ID = %d; want 403", r.status)
		}
		if r := e.get(bob, mediaV1+"/thumbnail/"+mediaPath(b)+"?width=32&height=32"); r.status != 403 {
			t.Errorf("thumbnail of infected content = %d; want 403", r.status)
		}
		if r := e.get(e.alice, mediaV1+"/download/"+mediaPath(clean)); r.status != 200 {
			t.Errorf("clean media after the reload = %d; want 200", r.status)
		}
	})
}

// With scanning configured and clamd gone, nothing is accepted unscanned.
func TestScannerUnavailable(t *testing.T) {
	forEachEngine(t, func(c *config.Config) {
		c.Media.Scan.ClamdSocket = filepath.Join(t.TempDir(), "no-clamd.sock")
	}, func(t *testing.T, e *env) {
		r := e.uploadRaw(e.alice, []byte("anything"), "text/plain", "")
		if r.status != 503 {
			t.Errorf("upload with clamd down = %d %s; want 503", r.status, r.body)
		}
		assertNoSpool(t, e)
	})
}

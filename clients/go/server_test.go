package hydrogen_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// A live `hydrogen dev` on free loopback ports.
type server struct {
	cmd    *exec.Cmd
	target string
}

func hydrogenBin(t *testing.T) string {
	bin := os.Getenv("HYDROGEN_BIN")
	if bin == "" {
		bin = "../../target/debug/hydrogen"
	}
	abs, err := filepath.Abs(bin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(abs); err != nil {
		t.Fatalf("no hydrogen binary at %s (run `cargo build` or set HYDROGEN_BIN): %v", abs, err)
	}
	return abs
}

var listening = regexp.MustCompile(`^listening on http://(127\.0\.0\.1:\d+)`)

func startServer(t *testing.T, token string) *server {
	t.Helper()
	args := []string{"dev", "--listen", "127.0.0.1:0", "--sim-listen", "127.0.0.1:0", "--agents", "5"}
	if token != "" {
		args = append(args, "--api-token", token)
	}
	cmd := exec.Command(hydrogenBin(t), args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HYDROGEN_API_TOKEN=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	found := make(chan string, 1)
	go func() {
		defer close(found)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case target, ok := <-found:
		if !ok {
			t.Fatal("hydrogen dev exited before printing `listening on`")
		}
		s.target = target
	case <-time.After(30 * time.Second):
		t.Fatal("hydrogen dev did not print `listening on` in time")
	}
	return s
}

// eventually polls check until it returns true; fails the test after deadline.
func eventually(t *testing.T, what string, deadline time.Duration, check func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for time.Now().Before(end) {
		if check() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s", deadline, what)
}

// droppingProxy forwards a loopback port to target; drop closes every open
// connection while the listener stays up.
type droppingProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newProxy(t *testing.T, target string) *droppingProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &droppingProxy{ln: ln}
	t.Cleanup(func() { _ = ln.Close(); p.drop() })
	go func() {
		for {
			down, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				_ = down.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, down, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, down); _ = up.Close() }()
			go func() { _, _ = io.Copy(down, up); _ = down.Close() }()
		}
	}()
	return p
}

func (p *droppingProxy) target() string { return p.ln.Addr().String() }

func (p *droppingProxy) drop() int {
	p.mu.Lock()
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
	return len(conns)
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

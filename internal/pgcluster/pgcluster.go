// Package pgcluster starts a throwaway PostgreSQL cluster from the local
// server binaries: initdb into a directory, a free loopback port,
// wal_level=logical and enough replication slots and senders for walhook.
//
// It backs the test helper (internal/pgtest) and `walhook dev`. When the
// process runs as root the cluster runs as the "postgres" OS user, because
// PostgreSQL refuses to run as root.
package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoBinaries is returned by Start when no PostgreSQL server binaries are
// found. Its message says what to install.
var ErrNoBinaries = errors.New("PostgreSQL server binaries (initdb, postgres) not found: " +
	"install them (Debian/Ubuntu: apt-get install postgresql; macOS: brew install postgresql) " +
	"or set WALHOOK_PG_BIN to the directory that holds initdb and postgres")

// Options configure Start. The zero value is usable.
type Options struct {
	// Dir is where the cluster's data directory and logs go. Empty means a
	// new temporary directory, removed by Stop.
	Dir string
	// Port to listen on (127.0.0.1). Zero picks a free port.
	Port int
	// Settings are extra server settings (name → value), applied after the
	// defaults.
	Settings map[string]string
	// Log receives the server's stdout and stderr; nil discards them into
	// Dir/postgres.log.
	Log *os.File
}

// Cluster is a running throwaway PostgreSQL server.
type Cluster struct {
	// Port is the loopback TCP port the server listens on.
	Port int
	// Dir holds the data directory ("data") and the server log.
	Dir string

	cmd       *exec.Cmd
	removeDir bool
	done      chan struct{}
	waitErr   error
	stopOnce  sync.Once
}

// BinDir returns the directory holding initdb and postgres: WALHOOK_PG_BIN
// when set, else the directory of initdb on PATH, else the newest
// /usr/lib/postgresql/<version>/bin. It returns ErrNoBinaries when none has
// both programs.
func BinDir() (string, error) {
	var candidates []string
	if d := os.Getenv("WALHOOK_PG_BIN"); d != "" {
		candidates = append(candidates, d)
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		candidates = append(candidates, filepath.Dir(p))
	}
	versioned, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(versioned, func(i, j int) bool { return pgVersion(versioned[i]) > pgVersion(versioned[j]) })
	candidates = append(candidates, versioned...)
	for _, d := range candidates {
		if isFile(filepath.Join(d, "initdb")) && isFile(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", ErrNoBinaries
}

func pgVersion(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// Start initialises a new cluster and starts it, returning once it accepts
// connections. The caller must call Stop. Cancelling ctx aborts the start
// (not the running server).
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: opts.Dir, Port: opts.Port, done: make(chan struct{})}
	if c.Dir == "" {
		if c.Dir, err = os.MkdirTemp("", "walhook-pg-"); err != nil {
			return nil, fmt.Errorf("create cluster directory: %w", err)
		}
		c.removeDir = true
	}
	cred, err := serverCredential(c.Dir)
	if err != nil {
		c.cleanup()
		return nil, err
	}
	if err := c.initdb(ctx, bin, cred); err != nil {
		c.cleanup()
		return nil, err
	}
	if c.Port == 0 {
		if c.Port, err = freePort(); err != nil {
			c.cleanup()
			return nil, err
		}
	}
	if err := c.start(bin, cred, opts); err != nil {
		c.cleanup()
		return nil, err
	}
	if err := c.waitReady(ctx); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// serverCredential returns the credential to run the server with: nil when
// not root, else the "postgres" user's, after handing dir to that user.
func serverCredential(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, PostgreSQL must run as another user: look up OS user \"postgres\": %w (create it, or run as a non-root user)", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, fmt.Errorf("hand %s to user postgres: %w", dir, err)
	}
	// The server must be able to reach dir through its parents.
	for p := filepath.Dir(dir); p != "/" && p != "."; p = filepath.Dir(p) {
		if st, err := os.Stat(p); err == nil && st.Mode().Perm()&0o001 == 0 {
			_ = os.Chmod(p, st.Mode().Perm()|0o011)
		}
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func (c *Cluster) dataDir() string { return filepath.Join(c.Dir, "data") }

func (c *Cluster) initdb(ctx context.Context, bin string, cred *syscall.Credential) error {
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "initdb"),
		"-D", c.dataDir(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.Dir = c.Dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb in %s: %w\n%s", c.dataDir(), err, out)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (c *Cluster) settings(opts Options) []string {
	s := map[string]string{
		"listen_addresses":        "127.0.0.1",
		"port":                    strconv.Itoa(c.Port),
		"unix_socket_directories": c.Dir,
		"wal_level":               "logical",
		"max_replication_slots":   "64",
		"max_wal_senders":         "64",
		"max_connections":         "200",
		"fsync":                   "off",
		"full_page_writes":        "off",
		"synchronous_commit":      "off",
		"shared_buffers":          "64MB",
		"wal_sender_timeout":      "60s",
	}
	for k, v := range opts.Settings {
		s[k] = v
	}
	args := make([]string, 0, 2*len(s)+2)
	args = append(args, "-D", c.dataDir())
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "-c", k+"="+s[k])
	}
	return args
}

func (c *Cluster) start(bin string, cred *syscall.Credential, opts Options) error {
	logf := opts.Log
	if logf == nil {
		f, err := os.Create(filepath.Join(c.Dir, "postgres.log"))
		if err != nil {
			return fmt.Errorf("create server log: %w", err)
		}
		logf = f
	}
	c.cmd = exec.Command(filepath.Join(bin, "postgres"), c.settings(opts)...)
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGQUIT}
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	if err := c.cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	go func() {
		c.waitErr = c.cmd.Wait()
		if opts.Log == nil {
			logf.Close()
		}
		close(c.done)
	}()
	return nil
}

func (c *Cluster) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		conn, err := pgx.Connect(ctx, c.DSN("postgres"))
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		select {
		case <-c.done:
			return fmt.Errorf("postgres exited during start-up (%v); see %s", c.waitErr, filepath.Join(c.Dir, "postgres.log"))
		case <-ctx.Done():
			return fmt.Errorf("wait for postgres to accept connections: %w (last error: %v)", ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// DSN returns a connection string for database db as the superuser
// "postgres" over TCP.
func (c *Cluster) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port, db)
}

// Stop shuts the server down (fast shutdown), waits for it, and removes the
// directory when Start created it. It is safe to call more than once.
func (c *Cluster) Stop() {
	c.stopOnce.Do(func() {
		if c.cmd != nil && c.cmd.Process != nil {
			_ = c.cmd.Process.Signal(syscall.SIGINT)
			select {
			case <-c.done:
			case <-time.After(30 * time.Second):
				_ = c.cmd.Process.Kill()
				<-c.done
			}
		}
		c.cleanup()
	})
}

func (c *Cluster) cleanup() {
	if c.removeDir && c.Dir != "" && strings.Contains(c.Dir, "walhook-pg-") {
		_ = os.RemoveAll(c.Dir)
	}
}

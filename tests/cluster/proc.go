package main

// Child processes: spawn with output to D/logs/<name>.log, watch for exit,
// stop in reverse order, and read the tail of a log for error reports.

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type child struct {
	name    string
	bin     string
	env     []string
	args    []string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the process has exited
	err     error         // exit error, valid after done
	// restarting marks an exit the launcher asked for (`k8scluster restart`): it does not
	// stop the cluster.
	restarting atomic.Bool
}

type supervisor struct {
	mu       sync.Mutex
	children []*child
	logDir   string
	pidsFile string
	exited   chan *child // receives every child that exits
	// respawn: once a restart was asked for (fault injection), components that exit are started
	// again, as a kubelet restarts a crashed static pod (kube-scheduler exits on purpose when a
	// restarted API server leaves its cache inconsistent).
	respawn atomic.Bool
}

func newSupervisor(logDir, pidsFile string) *supervisor {
	return &supervisor{logDir: logDir, pidsFile: pidsFile, exited: make(chan *child, 16)}
}

func (s *supervisor) start(name, bin string, args ...string) (*child, error) {
	return s.startEnv(name, bin, nil, args...)
}

// startEnv is start with an explicit environment (nil: inherit).
func (s *supervisor) startEnv(name, bin string, env []string, args ...string) (*child, error) {
	c := &child{name: name, bin: bin, env: env, args: args, logPath: filepath.Join(s.logDir, name+".log")}
	if err := s.spawn(c, os.O_TRUNC); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.children = append(s.children, c)
	s.writePids()
	s.mu.Unlock()
	return c, nil
}

// spawn starts c's command with output to its log (truncated or appended to, by logMode).
func (s *supervisor) spawn(c *child, logMode int) error {
	f, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|logMode, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(c.bin, c.args...)
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.Stdin = nil
	cmd.Env = c.env
	// Own process group (a Ctrl-C in the launcher's terminal reaches only the
	// launcher, which then stops children in order) and die with the launcher
	// if it is killed hard.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	fmt.Fprintf(f, "# %s %s\n", c.bin, strings.Join(c.args, " "))
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", c.name, err)
	}
	c.cmd = cmd
	c.done = make(chan struct{})
	done := c.done
	go func() {
		err := cmd.Wait()
		// Read before done is closed: restart() clears the mark once it has seen done.
		asked := c.restarting.Load()
		f.Close()
		c.err = err
		close(done)
		if !asked {
			s.exited <- c
		}
	}()
	logf("started %s (pid %d), log %s", c.name, cmd.Process.Pid, c.logPath)
	return nil
}

// respawnExited starts an exited child again with its command line; false when respawning is
// off or the start fails.
func (s *supervisor) respawnExited(c *child) bool {
	if !s.respawn.Load() {
		return false
	}
	logf("%s exited (%v) after a requested restart; starting it again, as a kubelet would", c.name, c.err)
	if err := s.spawn(c, os.O_APPEND); err != nil {
		logf("starting %s again failed: %v", c.name, err)
		return false
	}
	s.mu.Lock()
	s.writePids()
	s.mu.Unlock()
	return true
}

// restart kills the named child with SIGKILL (a crash, not a clean stop), waits downFor (an
// outage), and starts it again with the same command line, appending to its log.
func (s *supervisor) restart(name string, downFor time.Duration) error {
	s.mu.Lock()
	var c *child
	for _, candidate := range s.children {
		if candidate.name == name {
			c = candidate
		}
	}
	s.mu.Unlock()
	if c == nil {
		return fmt.Errorf("no component named %q runs", name)
	}
	s.respawn.Store(true)
	c.restarting.Store(true)
	defer c.restarting.Store(false)
	_ = c.cmd.Process.Kill()
	<-c.done
	logf("killed %s (pid %d) for a restart in %s", c.name, c.cmd.Process.Pid, downFor)
	time.Sleep(downFor)
	if err := s.spawn(c, os.O_APPEND); err != nil {
		return err
	}
	s.mu.Lock()
	s.writePids()
	s.mu.Unlock()
	return nil
}

// writePids records "pid name" lines so that `down` can make sure every
// child is gone. Caller holds s.mu.
func (s *supervisor) writePids() {
	var b bytes.Buffer
	for _, c := range s.children {
		fmt.Fprintf(&b, "%d %s\n", c.cmd.Process.Pid, c.name)
	}
	_ = os.WriteFile(s.pidsFile, b.Bytes(), 0o644)
}

// stopAll stops children in reverse start order: SIGTERM, then SIGKILL after grace.
func (s *supervisor) stopAll(grace time.Duration) {
	s.mu.Lock()
	cs := append([]*child(nil), s.children...)
	s.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		c := cs[i]
		select {
		case <-c.done:
			continue
		default:
		}
		logf("stopping %s (pid %d)", c.name, c.cmd.Process.Pid)
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(grace):
			logf("%s did not exit after %s, killing", c.name, grace)
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	}
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// freePorts returns n distinct free ports (held open together so they differ).
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// processAlive reports whether pid runs and its command line contains want.
func processAlive(pid int, want string) bool {
	if pid <= 0 {
		return false
	}
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	// A zombie has an empty cmdline; treat it as gone.
	if len(data) == 0 {
		return false
	}
	if stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil {
		if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
			return false
		}
	}
	return want == "" || bytes.Contains(data, []byte(want))
}

func readPid(path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	return pid
}

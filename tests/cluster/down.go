package main

// `down` and `status`: find the launcher through D/pid and the children
// through D/pids, stop them and wait until none is left.

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type pidEntry struct {
	pid  int
	name string
}

func readPids(path string) []pidEntry {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []pidEntry
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) != 2 {
			continue
		}
		if pid, err := strconv.Atoi(f[0]); err == nil {
			out = append(out, pidEntry{pid, f[1]})
		}
	}
	return out
}

func runDown(dir string, timeout time.Duration) int {
	dir, _ = filepath.Abs(dir)
	pid := readPid(filepath.Join(dir, "pid"))
	children := readPids(filepath.Join(dir, "pids"))
	alive := func() []string {
		var out []string
		if processAlive(pid, "k8scluster") {
			out = append(out, fmt.Sprintf("k8scluster(%d)", pid))
		}
		for _, c := range children {
			if processAlive(c.pid, c.name) {
				out = append(out, fmt.Sprintf("%s(%d)", c.name, c.pid))
			}
		}
		return out
	}
	if len(alive()) == 0 {
		// Remove state a killed launcher may have left (a stale D/ready would lie).
		for _, e := range stateEntries {
			_ = os.RemoveAll(filepath.Join(dir, e))
		}
		fmt.Printf("k8scluster: nothing runs for %s\n", dir)
		return 0
	}
	if processAlive(pid, "k8scluster") {
		fmt.Printf("k8scluster: stopping launcher pid %d\n", pid)
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if len(alive()) == 0 {
			fmt.Printf("k8scluster: stopped %s\n", dir)
			return 0
		}
		// A launcher that is gone leaves its children to us.
		if !processAlive(pid, "k8scluster") {
			for _, c := range children {
				if processAlive(c.pid, c.name) {
					_ = syscall.Kill(c.pid, syscall.SIGTERM)
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	left := alive()
	fmt.Fprintf(os.Stderr, "k8scluster: still running after %s, killing: %s\n", timeout, strings.Join(left, " "))
	if processAlive(pid, "k8scluster") {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	for _, c := range children {
		if processAlive(c.pid, c.name) {
			_ = syscall.Kill(c.pid, syscall.SIGKILL)
		}
	}
	for i := 0; i < 50 && len(alive()) > 0; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if left := alive(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "k8scluster: could not stop: %s\n", strings.Join(left, " "))
		return 1
	}
	for _, e := range stateEntries {
		_ = os.RemoveAll(filepath.Join(dir, e))
	}
	return 0
}

func runStatus(dir string) int {
	dir, _ = filepath.Abs(dir)
	pid := readPid(filepath.Join(dir, "pid"))
	if !processAlive(pid, "k8scluster") {
		fmt.Printf("k8scluster: not running for %s\n", dir)
		return 1
	}
	if _, err := os.Stat(filepath.Join(dir, "ready")); err != nil {
		fmt.Printf("k8scluster: launcher pid %d runs for %s but is not ready yet\n", pid, dir)
		return 1
	}
	fmt.Printf("k8scluster: running (pid %d), KUBECONFIG=%s\n", pid, filepath.Join(dir, "kubeconfig"))
	return 0
}

package main

// `restart`: kill one component of a running cluster with SIGKILL and start it again with the
// same command line, for fault-injection tests. The command drops a request file in
// D/restarts/ and signals the launcher (SIGUSR1); the launcher restarts the component, waits
// until it is ready again (kube-apiserver: /readyz) and answers in a file beside the request.

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// readyChecks says how to tell that a restarted component serves again; components without
// an entry count as ready once their process has started.
type readyChecks map[string]func(context.Context) error

func restartDir(dir string) string { return filepath.Join(dir, "restarts") }

func runRestart(dir, component string, timeout time.Duration) int {
	dir, _ = filepath.Abs(dir)
	pid := readPid(filepath.Join(dir, "pid"))
	if !processAlive(pid, "k8scluster") {
		fmt.Fprintf(os.Stderr, "k8scluster: no launcher runs for %s\n", dir)
		return 1
	}
	if err := os.MkdirAll(restartDir(dir), 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	id := fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())
	request := filepath.Join(restartDir(dir), id+".request")
	answer := filepath.Join(restartDir(dir), id+".answer")
	if err := writeAtomic(request, []byte(component+"\n"), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := syscall.Kill(pid, syscall.SIGUSR1); err != nil {
		fmt.Fprintf(os.Stderr, "k8scluster: signalling the launcher (pid %d): %v\n", pid, err)
		return 1
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if data, err := os.ReadFile(answer); err == nil {
			_ = os.Remove(answer)
			text := strings.TrimSpace(string(data))
			if strings.HasPrefix(text, "ok") {
				fmt.Println(text)
				return 0
			}
			fmt.Fprintf(os.Stderr, "k8scluster: restart of %s failed: %s\n", component, text)
			return 1
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = os.Remove(request)
	fmt.Fprintf(os.Stderr, "k8scluster: no answer to the restart of %s within %s\n", component, timeout)
	return 1
}

// serveRestarts answers restart requests until ctx ends. Requests are handled one at a time.
func serveRestarts(ctx context.Context, dir string, sup *supervisor, checks readyChecks) {
	wake := make(chan os.Signal, 1)
	signal.Notify(wake, syscall.SIGUSR1)
	defer signal.Stop(wake)
	for {
		select {
		case <-ctx.Done():
			return
		case <-wake:
		}
		requests, _ := filepath.Glob(filepath.Join(restartDir(dir), "*.request"))
		for _, request := range requests {
			data, err := os.ReadFile(request)
			_ = os.Remove(request)
			if err != nil {
				continue
			}
			component := strings.TrimSpace(string(data))
			answer := strings.TrimSuffix(request, ".request") + ".answer"
			_ = writeAtomic(answer, []byte(restartOne(ctx, sup, checks, component)+"\n"), 0o644)
		}
	}
}

func restartOne(ctx context.Context, sup *supervisor, checks readyChecks, component string) string {
	start := time.Now()
	if err := sup.restart(component); err != nil {
		return "error: " + err.Error()
	}
	if check, ok := checks[component]; ok {
		if err := check(ctx); err != nil {
			return fmt.Sprintf("error: %s restarted but not ready: %v", component, err)
		}
	}
	took := time.Since(start)
	logf("restarted %s, ready again in %s", component, took.Round(time.Millisecond))
	return "ok " + component + " ready again in " + strconv.FormatInt(took.Milliseconds(), 10) + "ms"
}

package main

// `restart`: kill one component of a running cluster with SIGKILL and start it again with the
// same command line (after an optional outage, --down-for), for fault-injection tests. The
// command drops a request file ("component down-for" on one line) in
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

func runRestart(dir, component string, downFor, timeout time.Duration) int {
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
	if err := writeAtomic(request, []byte(component+" "+downFor.String()+"\n"), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := syscall.Kill(pid, syscall.SIGUSR1); err != nil {
		fmt.Fprintf(os.Stderr, "k8scluster: signalling the launcher (pid %d): %v\n", pid, err)
		return 1
	}
	deadline := time.Now().Add(downFor + timeout)
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
			answer := strings.TrimSuffix(request, ".request") + ".answer"
			_ = writeAtomic(answer, []byte(answerRequest(ctx, sup, checks, string(data))+"\n"), 0o644)
		}
	}
}

// answerRequest restarts the component a request names, after the outage it asks for.
func answerRequest(ctx context.Context, sup *supervisor, checks readyChecks, request string) string {
	fields := strings.Fields(request)
	if len(fields) == 0 || len(fields) > 2 {
		return fmt.Sprintf("error: a request is \"component [down-for]\", not %q", request)
	}
	downFor := time.Duration(0)
	if len(fields) == 2 {
		parsed, err := time.ParseDuration(fields[1])
		if err != nil {
			return fmt.Sprintf("error: down-for %q: %v", fields[1], err)
		}
		downFor = parsed
	}
	return restartOne(ctx, sup, checks, fields[0], downFor)
}

func restartOne(ctx context.Context, sup *supervisor, checks readyChecks, component string, downFor time.Duration) string {
	start := time.Now()
	if err := sup.restart(component, downFor); err != nil {
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

package main

// `up`: start etcd and every component, bootstrap the cluster, write
// D/kubeconfig then D/ready, block until SIGTERM/SIGINT or a child dies.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
)

type upOptions struct {
	dir      string
	nodes    int
	keepLogs bool
	binDir   string
	crdDir   string
	timeout  time.Duration
	noKruise bool
	noProm   bool
}

// childDied is the cancel cause when a component exits unexpectedly.
type childDied struct{ c *child }

func (e *childDied) Error() string {
	return fmt.Sprintf("%s exited unexpectedly: %v", e.c.name, e.c.err)
}

type gotSignal struct{ sig os.Signal }

func (e *gotSignal) Error() string { return "received " + e.sig.String() }

// State files removed on shutdown (logs/ only without --keep-logs).
var stateEntries = []string{"restarts", "ready", "kubeconfig", "etcd", "pki", "kruise-certs", "kwok-stages.yaml", "prometheus", "prometheus-url", "pids", "pid"}

func runUp(o upOptions) int {
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if pid := readPid(filepath.Join(dir, "pid")); pid != os.Getpid() && processAlive(pid, "k8scluster") {
		fmt.Fprintf(os.Stderr, "k8scluster: a launcher (pid %d) already runs for %s; use `k8scluster down --dir %s`\n", pid, dir, dir)
		return 1
	}
	for _, e := range stateEntries {
		_ = os.RemoveAll(filepath.Join(dir, e))
	}
	logDir := filepath.Join(dir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := os.WriteFile(filepath.Join(dir, "pid"), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for _, b := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"} {
		if _, err := os.Stat(filepath.Join(o.binDir, b)); err != nil {
			fmt.Fprintf(os.Stderr, "k8scluster: missing binary %s (run tests/cluster/build.sh): %v\n", b, err)
			cleanup(dir, true)
			return 1
		}
	}

	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	// Restart requests (SIGUSR1) are served once the cluster is ready; until then one must not
	// kill the launcher.
	signal.Ignore(syscall.SIGUSR1)
	go func() {
		s := <-sigs
		cancel(&gotSignal{s})
	}()

	sup := newSupervisor(logDir, filepath.Join(dir, "pids"))
	go func() {
		for c := range sup.exited {
			if ctx.Err() == nil && !sup.respawnExited(c) {
				cancel(&childDied{c})
			}
		}
	}()

	start := time.Now()
	checks := readyChecks{}
	etcdCloser, err := bootstrap(ctx, o, dir, sup, checks)
	ok := err == nil
	if err != nil {
		reportFailure(ctx, err, dir)
	} else {
		logf("cluster ready in %s: export KUBECONFIG=%s", time.Since(start).Round(10*time.Millisecond), filepath.Join(dir, "kubeconfig"))
		go serveRestarts(ctx, dir, sup, checks)
		<-ctx.Done()
		cause := context.Cause(ctx)
		var died *childDied
		if errors.As(cause, &died) {
			ok = false
			fmt.Fprintf(os.Stderr, "k8scluster: component %s exited unexpectedly (%v); last lines of %s:\n%s\n",
				died.c.name, died.c.err, died.c.logPath, tail(died.c.logPath, 30))
		} else {
			logf("%v, shutting down", cause)
		}
	}
	_ = os.Remove(filepath.Join(dir, "ready"))
	sup.stopAll(10 * time.Second)
	if etcdCloser != nil {
		logf("stopping etcd")
		etcdCloser()
	}
	// Keep logs after a failure so they can be read.
	cleanup(dir, o.keepLogs || !ok)
	if !ok {
		return 1
	}
	logf("stopped")
	return 0
}

func cleanup(dir string, keepLogs bool) {
	for _, e := range stateEntries {
		_ = os.RemoveAll(filepath.Join(dir, e))
	}
	if !keepLogs {
		_ = os.RemoveAll(filepath.Join(dir, "logs"))
		_ = os.Remove(dir) // only if empty
	}
}

func reportFailure(ctx context.Context, err error, dir string) {
	cause := context.Cause(ctx)
	var died *childDied
	var sig *gotSignal
	var step *stepError
	switch {
	case errors.As(cause, &died):
		fmt.Fprintf(os.Stderr, "k8scluster: FAILED: component %s exited during startup (%v)\n--- last 30 lines of %s ---\n%s\n",
			died.c.name, died.c.err, died.c.logPath, tail(died.c.logPath, 30))
	case errors.As(cause, &sig):
		fmt.Fprintf(os.Stderr, "k8scluster: startup interrupted (%v)\n", sig.sig)
	case errors.As(err, &step):
		fmt.Fprintf(os.Stderr, "k8scluster: FAILED: %v\n", err)
		for _, c := range step.components {
			p := filepath.Join(dir, "logs", c+".log")
			fmt.Fprintf(os.Stderr, "--- component %s: last 30 lines of %s ---\n%s\n", c, p, tail(p, 30))
		}
	default:
		fmt.Fprintf(os.Stderr, "k8scluster: FAILED: %v\n", err)
	}
}

// bootstrap starts everything and returns a function that stops etcd.
// checks receives how to tell that a restarted component is ready again.
func bootstrap(ctx context.Context, o upOptions, dir string, sup *supervisor, checks readyChecks) (func(), error) {
	ctx, cancelT := context.WithTimeout(ctx, o.timeout)
	defer cancelT()
	logDir := filepath.Join(dir, "logs")
	bin := func(n string) string { return filepath.Join(o.binDir, n) }

	p, err := generatePKI(filepath.Join(dir, "pki"))
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}

	t := time.Now()
	etcd, etcdURL, err := startEtcd(filepath.Join(dir, "etcd"), filepath.Join(logDir, "etcd.log"))
	if err != nil {
		return nil, blame(fmt.Errorf("etcd: %w", err), "etcd")
	}
	stopEtcd := func() { etcd.Server.Stop(); etcd.Close() }
	logf("etcd ready at %s (%s)", etcdURL, time.Since(t).Round(time.Millisecond))

	ports, err := freePorts(6)
	if err != nil {
		return stopEtcd, err
	}
	apiPort, kcmPort, schedPort, kruiseWebhookPort, kruiseHealthPort, promPort := ports[0], ports[1], ports[2], ports[3], ports[4], ports[5]
	kruiseBin, kruiseTemplate, kruiseOn := kruiseFiles(o.binDir)
	if o.noKruise {
		kruiseOn = false
	}
	if !kruiseOn {
		logf("kruise-manager not used (%s); OpenKruise CRDs only", map[bool]string{true: "--no-kruise", false: "bin/kruise-manager or bin/kruise/webhook.yaml missing"}[o.noKruise])
	}
	promBin, promOn := prometheusFiles(o.binDir)
	if o.noProm {
		promOn = false
	}
	if !promOn {
		logf("prometheus not started (%s)", map[bool]string{true: "--no-prometheus", false: "bin/prometheus missing"}[o.noProm])
	}
	// Pods must not be created while kruise's pod webhook (failurePolicy Fail) has no server yet.
	kruiseReady := make(chan struct{})
	if !kruiseOn {
		close(kruiseReady)
	}
	server := fmt.Sprintf("https://127.0.0.1:%d", apiPort)

	t = time.Now()
	if _, err := sup.start("kube-apiserver", bin("kube-apiserver"),
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", apiPort),
		"--cert-dir="+p.dir,
		"--tls-cert-file="+p.serverCert,
		"--tls-private-key-file="+p.serverKey,
		"--client-ca-file="+p.caCert,
		"--token-auth-file="+p.tokens,
		"--authorization-mode=Node,RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+p.saPub,
		"--service-account-signing-key-file="+p.saKey,
		"--service-cluster-ip-range=10.96.0.0/16",
		"--endpoint-reconciler-type=none",
		"--allow-privileged=true",
		"--enable-priority-and-fairness=false",
		// K8SCLUSTER_PROFILING=1 serves /debug/pprof, for finding where the API server's CPU goes.
		fmt.Sprintf("--profiling=%t", os.Getenv("K8SCLUSTER_PROFILING") == "1"),
	); err != nil {
		return stopEtcd, blame(err, "kube-apiserver")
	}
	if err := waitHTTPS(ctx, server+"/readyz", p.token, 90*time.Second, "kube-apiserver /readyz"); err != nil {
		return stopEtcd, blame(err, "kube-apiserver")
	}
	logf("kube-apiserver ready at %s (%s)", server, time.Since(t).Round(time.Millisecond))
	checks["kube-apiserver"] = func(ctx context.Context) error {
		return waitHTTPS(ctx, server+"/readyz", p.token, 90*time.Second, "kube-apiserver /readyz")
	}

	// Components use a private copy; D/kubeconfig is written only when ready.
	adminKC := filepath.Join(p.dir, "admin.kubeconfig")
	if err := os.WriteFile(adminKC, p.kubeconfig(server), 0o600); err != nil {
		return stopEtcd, err
	}
	stages := filepath.Join(dir, "kwok-stages.yaml")
	stageYAML, err := kwokStages()
	if err != nil {
		return stopEtcd, err
	}
	if err := os.WriteFile(stages, []byte(stageYAML), 0o644); err != nil {
		return stopEtcd, err
	}

	if _, err := sup.start("kube-scheduler", bin("kube-scheduler"),
		"--kubeconfig="+adminKC,
		"--authentication-kubeconfig="+adminKC,
		"--authorization-kubeconfig="+adminKC,
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", schedPort),
		"--cert-dir="+filepath.Join(p.dir, "scheduler"),
		"--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics",
		"--profiling=false",
	); err != nil {
		return stopEtcd, blame(err, "kube-scheduler")
	}
	if _, err := sup.start("kwok", bin("kwok"),
		"--kubeconfig="+adminKC,
		"--config="+stages,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--manage-nodes-with-label-selector=",
		"--manage-single-node=",
		"--cidr=10.244.0.0/16",
		"--node-ip=10.0.0.1",
		"--node-lease-duration-seconds=40",
	); err != nil {
		return stopEtcd, blame(err, "kwok")
	}

	cs, err := kubernetes.NewForConfig(restConfig(server, p))
	if err != nil {
		return stopEtcd, err
	}

	// CRDs first, then the controller manager: its garbage collector discovers
	// resource types at start and then only every 30s, so CRDs created after it
	// would not get foreground/background cascading deletion for up to 30s.
	t = time.Now()
	if err := installCRDs(ctx, restConfig(server, p), o.crdDir); err != nil {
		return stopEtcd, blame(err, "kube-apiserver")
	}
	logf("CRDs installed (%s)", time.Since(t).Round(time.Millisecond))
	if _, err := sup.start("kube-controller-manager", bin("kube-controller-manager"),
		"--kubeconfig="+adminKC,
		"--authentication-kubeconfig="+adminKC,
		"--authorization-kubeconfig="+adminKC,
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", kcmPort),
		"--cert-dir="+filepath.Join(p.dir, "kcm"),
		"--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics",
		"--service-account-private-key-file="+p.saKey,
		"--root-ca-file="+p.caCert,
		"--cluster-signing-cert-file="+p.caCert,
		"--cluster-signing-key-file="+p.caKey,
		"--service-cluster-ip-range=10.96.0.0/16",
		"--node-monitor-period=5s",
		"--node-monitor-grace-period=40s",
		"--concurrent-deployment-syncs=10",
		"--concurrent-replicaset-syncs=10",
		// The default client rate (20 requests/s) lets thousands of workloads take many
		// minutes to get their ReplicaSets, which only slows the scale benchmarks down.
		"--kube-api-qps=200",
		"--kube-api-burst=400",
		"--profiling=false",
	); err != nil {
		return stopEtcd, blame(err, "kube-controller-manager")
	}

	// Independent steps in parallel.
	type step struct {
		name string
		fn   func() error
	}
	steps := []step{
		{"kube-controller-manager healthz", func() error {
			return blame(waitHTTPS(ctx, fmt.Sprintf("https://127.0.0.1:%d/healthz", kcmPort), "", 60*time.Second,
				"kube-controller-manager /healthz"), "kube-controller-manager")
		}},
		{"kube-scheduler healthz", func() error {
			return blame(waitHTTPS(ctx, fmt.Sprintf("https://127.0.0.1:%d/healthz", schedPort), "", 60*time.Second,
				"kube-scheduler /healthz"), "kube-scheduler")
		}},
		{"nodes", func() error {
			if err := createNodes(ctx, cs, o.nodes); err != nil {
				return blame(err, "kwok")
			}
			logf("%d fake nodes Ready", o.nodes)
			return nil
		}},
		{"kruise-manager", func() error {
			if !kruiseOn {
				return nil
			}
			// kruise-manager starts controllers only for CRDs that exist, so it comes after them.
			if err := createKruiseWebhookConfigs(ctx, cs, kruiseTemplate); err != nil {
				return fmt.Errorf("kruise webhook configurations: %w", err)
			}
			t := time.Now()
			if _, err := sup.startEnv("kruise-manager", kruiseBin, kruiseEnv(filepath.Join(dir, "kruise-certs"), kruiseWebhookPort),
				"--kubeconfig="+adminKC,
				"--enable-leader-election=false",
				"--metrics-addr=0",
				fmt.Sprintf("--health-probe-addr=127.0.0.1:%d", kruiseHealthPort),
				"--enable-pprof=false",
			); err != nil {
				return blame(err, "kruise-manager")
			}
			if err := waitHTTPS(ctx, fmt.Sprintf("http://127.0.0.1:%d/readyz", kruiseHealthPort), "", 90*time.Second,
				"kruise-manager /readyz"); err != nil {
				return blame(err, "kruise-manager")
			}
			if err := waitKruiseWebhooks(ctx, cs); err != nil {
				return blame(err, "kruise-manager")
			}
			logf("kruise-manager ready, webhooks at https://127.0.0.1:%d (%s)", kruiseWebhookPort, time.Since(t).Round(time.Millisecond))
			close(kruiseReady)
			return blame(smokeCloneSet(ctx, restConfig(server, p), cs), "kruise-manager", "kwok")
		}},
		{"prometheus", func() error {
			if !promOn {
				return nil
			}
			return startPrometheus(ctx, sup, promBin, dir, promPort)
		}},
		{"smoke", func() error {
			if err := waitServiceAccount(ctx, cs); err != nil {
				return blame(err, "kube-controller-manager")
			}
			logf("ServiceAccount default/default exists")
			select {
			case <-kruiseReady:
			case <-ctx.Done():
				return context.Cause(ctx)
			}
			return smokeDeployment(ctx, cs)
		}},
	}
	var wg sync.WaitGroup
	errs := make([]error, len(steps))
	for i, s := range steps {
		wg.Add(1)
		go func(i int, s step) {
			defer wg.Done()
			errs[i] = s.fn()
		}(i, s)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return stopEtcd, err
		}
	}
	if ctx.Err() != nil {
		return stopEtcd, context.Cause(ctx)
	}

	if err := writeAtomic(filepath.Join(dir, "kubeconfig"), p.kubeconfig(server), 0o600); err != nil {
		return stopEtcd, err
	}
	if err := writeAtomic(filepath.Join(dir, "ready"), []byte(server+"\n"), 0o644); err != nil {
		return stopEtcd, err
	}
	return stopEtcd, nil
}

func writeAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Command k8scluster runs a real local Kubernetes control plane for tests:
// embedded etcd, kube-apiserver, kube-controller-manager, kube-scheduler and
// KWOK (fake nodes whose pods become Running and Ready), plus OpenKruise's
// kruise-manager when bin/kruise-manager exists, and Prometheus when
// bin/prometheus exists.
//
//	k8scluster up     --dir D [--nodes 3] [--keep-logs] [--no-kruise] [--no-prometheus] [--bin DIR] [--crds DIR]
//	k8scluster down   --dir D
//	k8scluster status --dir D
//	k8scluster restart --dir D --component NAME [--down-for 0s] [--timeout 90s]
//
// `up` blocks in the foreground. When the cluster is usable it writes
// D/kubeconfig (and D/prometheus-url) and then D/ready. SIGTERM or SIGINT
// stops every child in reverse order, stops etcd and removes the state in D.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

func usage() {
	fmt.Fprintf(os.Stderr, `usage:
  k8scluster up     --dir D [--nodes N] [--keep-logs] [--no-kruise] [--no-prometheus] [--bin DIR] [--crds DIR] [--timeout 3m]
  k8scluster down   --dir D [--timeout 60s]
  k8scluster status --dir D      (exit 0 if a launcher runs for D and D/ready exists)
  k8scluster restart --dir D --component NAME [--down-for 0s] [--timeout 90s]
                                 (SIGKILL one component, e.g. kube-apiserver, keep it down for --down-for,
                                  start it again, wait until ready)
`)
	os.Exit(2)
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	cmd, args := os.Args[1], os.Args[2:]
	switch cmd {
	case "up":
		fs := flag.NewFlagSet("up", flag.ExitOnError)
		var o upOptions
		fs.StringVar(&o.dir, "dir", "", "state directory (required)")
		fs.IntVar(&o.nodes, "nodes", 3, "number of fake KWOK nodes")
		fs.BoolVar(&o.keepLogs, "keep-logs", false, "keep D/logs on shutdown")
		fs.StringVar(&o.binDir, "bin", "", "directory holding kube-apiserver, kube-controller-manager, kube-scheduler, kwok (default: directory of this executable)")
		fs.StringVar(&o.crdDir, "crds", "", "directory of CRD YAML files to install (default: <bin>/crds)")
		fs.DurationVar(&o.timeout, "timeout", 3*time.Minute, "deadline for the cluster to become ready")
		fs.BoolVar(&o.noKruise, "no-kruise", false, "do not run bin/kruise-manager (OpenKruise CRDs are still installed)")
		fs.BoolVar(&o.noProm, "no-prometheus", false, "do not run bin/prometheus")
		_ = fs.Parse(args)
		if o.dir == "" {
			usage()
		}
		if o.binDir == "" {
			o.binDir = exeDir()
		}
		if o.crdDir == "" {
			o.crdDir = filepath.Join(o.binDir, "crds")
		}
		os.Exit(runUp(o))
	case "down":
		fs := flag.NewFlagSet("down", flag.ExitOnError)
		dir := fs.String("dir", "", "state directory (required)")
		timeout := fs.Duration("timeout", 60*time.Second, "how long to wait for every process to exit")
		_ = fs.Parse(args)
		if *dir == "" {
			usage()
		}
		os.Exit(runDown(*dir, *timeout))
	case "status":
		fs := flag.NewFlagSet("status", flag.ExitOnError)
		dir := fs.String("dir", "", "state directory (required)")
		_ = fs.Parse(args)
		if *dir == "" {
			usage()
		}
		os.Exit(runStatus(*dir))
	case "restart":
		fs := flag.NewFlagSet("restart", flag.ExitOnError)
		dir := fs.String("dir", "", "state directory (required)")
		component := fs.String("component", "", "component to restart, e.g. kube-apiserver (required)")
		downFor := fs.Duration("down-for", 0, "how long the component stays killed before it starts again")
		timeout := fs.Duration("timeout", 90*time.Second, "how long to wait until it is ready again (after --down-for)")
		_ = fs.Parse(args)
		if *dir == "" || *component == "" || *downFor < 0 {
			usage()
		}
		os.Exit(runRestart(*dir, *component, *downFor, *timeout))
	default:
		usage()
	}
}

func exeDir() string {
	exe, err := os.Executable()
	if err != nil {
		return "."
	}
	if r, err := filepath.EvalSymlinks(exe); err == nil {
		exe = r
	}
	return filepath.Dir(exe)
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stdout, "%s k8scluster: %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, a...))
}

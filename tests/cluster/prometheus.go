package main

// Prometheus (bin/prometheus, built by build.sh from github.com/prometheus/prometheus/cmd/prometheus
// in its own module prometheus/): started with the cluster on a free loopback port. It scrapes
// every target listed in D/prometheus/targets/*.json (file-based service discovery, re-read every
// second), so a test registers a metrics source by writing a file there; see
// tests/e2e/src/app_metrics.rs. The base URL goes to D/prometheus-url.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// prometheusFiles returns bin/prometheus when it exists.
func prometheusFiles(binDir string) (string, bool) {
	p := filepath.Join(binDir, "prometheus")
	if st, err := os.Stat(p); err != nil || st.IsDir() {
		return "", false
	}
	return p, true
}

// prometheusConfig is D/prometheus/prometheus.yml: one scrape job, "apps", whose targets are the
// file_sd files in targetsDir. Scraping and rule evaluation every second, so a rate over a few
// seconds is already meaningful.
func prometheusConfig(targetsDir string) []byte {
	// JSON strings are valid YAML scalars, so any path is quoted safely.
	glob, _ := json.Marshal(filepath.Join(targetsDir, "*.json"))
	return []byte(fmt.Sprintf(`# Written by k8scluster (tests/cluster/prometheus.go); removed on shutdown.
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: apps
    scrape_interval: 1s
    scrape_timeout: 1s
    fallback_scrape_protocol: PrometheusText0.0.4
    file_sd_configs:
      - files: [%s]
        refresh_interval: 1s
`, glob))
}

// startPrometheus writes the configuration, starts Prometheus on 127.0.0.1:port, waits for
// /-/ready and then writes D/prometheus-url (the base URL, no trailing newline).
func startPrometheus(ctx context.Context, sup *supervisor, bin, dir string, port int) error {
	root := filepath.Join(dir, "prometheus")
	targets := filepath.Join(root, "targets")
	if err := os.MkdirAll(targets, 0o755); err != nil {
		return err
	}
	cfg := filepath.Join(root, "prometheus.yml")
	if err := os.WriteFile(cfg, prometheusConfig(targets), 0o644); err != nil {
		return err
	}
	t := time.Now()
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	if _, err := sup.start("prometheus", bin,
		"--config.file="+cfg,
		"--storage.tsdb.path="+filepath.Join(root, "data"),
		"--storage.tsdb.retention.time=2h",
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port),
	); err != nil {
		return blame(err, "prometheus")
	}
	if err := waitHTTPS(ctx, url+"/-/ready", "", 60*time.Second, "prometheus /-/ready"); err != nil {
		return blame(err, "prometheus")
	}
	if err := writeAtomic(filepath.Join(dir, "prometheus-url"), []byte(url), 0o644); err != nil {
		return err
	}
	logf("prometheus ready at %s, scraping %s/*.json (%s)", url, targets, time.Since(t).Round(time.Millisecond))
	return nil
}

package main

// Cluster bootstrap through the API: fake nodes, CRDs, the default
// ServiceAccount and a smoke Deployment that proves the whole chain
// (Deployment controller -> ReplicaSet -> scheduler -> KWOK readiness).

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"
)

// stepError names the component most likely at fault when a step fails.
type stepError struct {
	components []string
	err        error
}

func (e *stepError) Error() string { return e.err.Error() }

func blame(err error, components ...string) error {
	if err == nil {
		return nil
	}
	return &stepError{components: components, err: err}
}

func poll(ctx context.Context, timeout time.Duration, what string, cond func(context.Context) (bool, error)) error {
	var last error
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		ok, err := cond(ctx)
		if err != nil {
			last = err
			return false, nil
		}
		return ok, nil
	})
	if err != nil {
		if last != nil {
			return fmt.Errorf("%s: %w (last error: %v)", what, err, last)
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// waitHTTPS polls url until it answers 200.
func waitHTTPS(ctx context.Context, url, token string, timeout time.Duration, what string) error {
	hc := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // local health probe
	}}
	return poll(ctx, timeout, what, func(ctx context.Context) (bool, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return false, err
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false, fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
		}
		return true, nil
	})
}

func restConfig(server string, p *pki) *rest.Config {
	return &rest.Config{
		Host:            server,
		BearerToken:     p.token,
		TLSClientConfig: rest.TLSClientConfig{CAData: p.caPEM},
		QPS:             100,
		Burst:           200,
		UserAgent:       "k8scluster",
	}
}

func createNodes(ctx context.Context, cs kubernetes.Interface, n int) error {
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("kwok-node-%d", i)
		res := corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("32"),
			corev1.ResourceMemory: resource.MustParse("256Gi"),
			corev1.ResourcePods:   resource.MustParse("110"),
		}
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name: name,
				Annotations: map[string]string{
					"node.alpha.kubernetes.io/ttl": "0",
					"kwok.x-k8s.io/node":           "fake",
				},
				Labels: map[string]string{
					"beta.kubernetes.io/arch":       "amd64",
					"beta.kubernetes.io/os":         "linux",
					"kubernetes.io/arch":            "amd64",
					"kubernetes.io/hostname":        name,
					"kubernetes.io/os":              "linux",
					"kubernetes.io/role":            "agent",
					"node-role.kubernetes.io/agent": "",
					"topology.kubernetes.io/zone":   fmt.Sprintf("zone-%c", 'a'+i%3),
					"type":                          "kwok",
				},
			},
			Status: corev1.NodeStatus{
				Allocatable: res,
				Capacity:    res,
				NodeInfo: corev1.NodeSystemInfo{
					Architecture:    "amd64",
					OperatingSystem: "linux",
					KubeletVersion:  "fake",
				},
			},
		}
		if _, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create node %s: %w", name, err)
		}
	}
	return poll(ctx, 60*time.Second, fmt.Sprintf("%d nodes Ready", n), func(ctx context.Context) (bool, error) {
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "type=kwok"})
		if err != nil {
			return false, err
		}
		ready := 0
		for _, nd := range nodes.Items {
			for _, c := range nd.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		return ready >= n, nil
	})
}

// loadCRDs reads every CustomResourceDefinition from the YAML files in dir.
// Other kinds (e.g. Gateway API's ValidatingAdmissionPolicy) are skipped.
func loadCRDs(dir string) ([]*apiextv1.CustomResourceDefinition, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no CRD files in %s (run build.sh)", dir)
	}
	sort.Strings(files)
	var out []*apiextv1.CustomResourceDefinition
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
		for {
			doc, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			var meta metav1.TypeMeta
			if err := yaml.Unmarshal(doc, &meta); err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			if meta.Kind != "CustomResourceDefinition" {
				continue
			}
			crd := &apiextv1.CustomResourceDefinition{}
			if err := yaml.UnmarshalStrict(doc, crd); err != nil {
				// Tolerate unknown fields in upstream files.
				if err := yaml.Unmarshal(doc, crd); err != nil {
					return nil, fmt.Errorf("%s: %w", f, err)
				}
			}
			out = append(out, crd)
		}
	}
	return out, nil
}

// installCRDs creates the CRDs (in parallel) and waits until each is Established.
func installCRDs(ctx context.Context, cfg *rest.Config, dir string) error {
	crds, err := loadCRDs(dir)
	if err != nil {
		return err
	}
	cs, err := apiextclient.NewForConfig(cfg)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(crds))
	for _, crd := range crds {
		wg.Add(1)
		go func(crd *apiextv1.CustomResourceDefinition) {
			defer wg.Done()
			api := cs.ApiextensionsV1().CustomResourceDefinitions()
			_, err := api.Create(ctx, crd, metav1.CreateOptions{FieldManager: "k8scluster"})
			if apierrors.IsAlreadyExists(err) {
				err = nil
			}
			if err != nil {
				errs <- fmt.Errorf("create CRD %s: %w", crd.Name, err)
				return
			}
			errs <- poll(ctx, 60*time.Second, "CRD "+crd.Name+" Established", func(ctx context.Context) (bool, error) {
				got, err := api.Get(ctx, crd.Name, metav1.GetOptions{})
				if err != nil {
					return false, err
				}
				for _, c := range got.Status.Conditions {
					if c.Type == apiextv1.Established && c.Status == apiextv1.ConditionTrue {
						return true, nil
					}
				}
				return false, nil
			})
		}(crd)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	names := make([]string, 0, len(crds))
	for _, c := range crds {
		names = append(names, c.Name)
	}
	logf("CRDs established: %s", strings.Join(names, " "))
	return nil
}

func waitServiceAccount(ctx context.Context, cs kubernetes.Interface) error {
	return poll(ctx, 60*time.Second, "ServiceAccount default/default", func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, err
	})
}

// smokeDeployment creates a 3-replica Deployment, waits until it is
// Available, deletes it and waits for its pods to disappear.
func smokeDeployment(ctx context.Context, cs kubernetes.Interface) error {
	const name, ns = "k8scluster-smoke", "default"
	replicas := int32(3)
	labels := map[string]string{"app": name}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "main", Image: "registry.k8s.io/pause:3.10",
				}}},
			},
		},
	}
	api := cs.AppsV1().Deployments(ns)
	if _, err := api.Create(ctx, dep, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return blame(fmt.Errorf("create smoke deployment: %w", err), "kube-apiserver")
	}
	err := poll(ctx, 90*time.Second, "smoke Deployment available (3/3)", func(ctx context.Context) (bool, error) {
		d, err := api.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return d.Status.ObservedGeneration >= d.Generation && d.Status.AvailableReplicas == replicas, nil
	})
	if err != nil {
		return blame(fmt.Errorf("%w; %s", err, diagnosePods(ctx, cs, ns, "app="+name)), diagnoseComponents(ctx, cs, ns, "app="+name)...)
	}
	logf("smoke Deployment %s/%s is Available (3/3), deleting it", ns, name)
	fg := metav1.DeletePropagationForeground
	if err := api.Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &fg}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return poll(ctx, 60*time.Second, "smoke Deployment and pods deleted", func(ctx context.Context) (bool, error) {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
		if err != nil {
			return false, err
		}
		_, err = api.Get(ctx, name, metav1.GetOptions{})
		return len(pods.Items) == 0 && apierrors.IsNotFound(err), nil
	})
}

func diagnosePods(ctx context.Context, cs kubernetes.Interface, ns, sel string) string {
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return "cannot list pods: " + err.Error()
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d pods:", len(pods.Items))
	for _, p := range pods.Items {
		fmt.Fprintf(&b, " %s(node=%q phase=%s)", p.Name, p.Spec.NodeName, p.Status.Phase)
	}
	return b.String()
}

// diagnoseComponents guesses which component stalled the smoke Deployment.
func diagnoseComponents(ctx context.Context, cs kubernetes.Interface, ns, sel string) []string {
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return []string{"kube-apiserver"}
	}
	if len(pods.Items) == 0 {
		return []string{"kube-controller-manager"}
	}
	for _, p := range pods.Items {
		if p.Spec.NodeName == "" {
			return []string{"kube-scheduler"}
		}
	}
	return []string{"kwok", "kube-controller-manager"}
}

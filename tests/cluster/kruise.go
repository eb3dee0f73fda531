package main

// OpenKruise's controller manager (bin/kruise-manager, built by build.sh from
// github.com/openkruise/kruise): its webhook configurations are created from
// kruise's own config/webhook template, and kruise rewrites them to
// `url: https://127.0.0.1:<port>/...` itself (WEBHOOK_HOST), with its own CA.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"
)

const (
	kruiseNamespace = "kruise-system"
	kruiseService   = "kruise-webhook-service"
	kruiseMutating  = "kruise-mutating-webhook-configuration"
	kruiseValidate  = "kruise-validating-webhook-configuration"
)

// createKruiseWebhookConfigs creates the namespace and the two webhook
// configurations from kruise's template (names prefixed as kruise's kustomize does).
func createKruiseWebhookConfigs(ctx context.Context, cs kubernetes.Interface, templatePath string) error {
	data, err := os.ReadFile(templatePath)
	if err != nil {
		return err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: kruiseNamespace}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	fixSvc := func(cc *admissionv1.WebhookClientConfig) {
		if cc.Service != nil {
			cc.Service.Name, cc.Service.Namespace = kruiseService, kruiseNamespace
		}
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	found := 0
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			return err
		}
		switch tm.Kind {
		case "MutatingWebhookConfiguration":
			m := &admissionv1.MutatingWebhookConfiguration{}
			if err := yaml.Unmarshal(doc, m); err != nil {
				return err
			}
			m.Name = kruiseMutating
			for i := range m.Webhooks {
				fixSvc(&m.Webhooks[i].ClientConfig)
			}
			if _, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, m, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				return err
			}
			found++
		case "ValidatingWebhookConfiguration":
			v := &admissionv1.ValidatingWebhookConfiguration{}
			if err := yaml.Unmarshal(doc, v); err != nil {
				return err
			}
			v.Name = kruiseValidate
			for i := range v.Webhooks {
				fixSvc(&v.Webhooks[i].ClientConfig)
			}
			if _, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, v, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				return err
			}
			found++
		}
	}
	if found != 2 {
		return fmt.Errorf("%s: expected a mutating and a validating webhook configuration, found %d", templatePath, found)
	}
	return nil
}

func kruiseEnv(certDir string, webhookPort int) []string {
	return append(os.Environ(),
		"POD_NAMESPACE="+kruiseNamespace,
		"SERVICE_NAME="+kruiseService,
		"WEBHOOK_HOST=127.0.0.1",
		fmt.Sprintf("WEBHOOK_PORT=%d", webhookPort),
		"WEBHOOK_CERT_DIR="+certDir,
	)
}

// waitKruiseWebhooks waits until kruise has rewritten its webhooks to URLs with a CA bundle.
func waitKruiseWebhooks(ctx context.Context, cs kubernetes.Interface) error {
	return poll(ctx, 90*time.Second, "kruise webhook configurations patched by kruise-manager", func(ctx context.Context) (bool, error) {
		m, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, kruiseMutating, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		v, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, kruiseValidate, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if len(m.Webhooks) == 0 || len(v.Webhooks) == 0 {
			return false, nil
		}
		for _, w := range m.Webhooks {
			if w.ClientConfig.URL == nil || !strings.HasPrefix(*w.ClientConfig.URL, "https://127.0.0.1:") || len(w.ClientConfig.CABundle) == 0 {
				return false, nil
			}
		}
		for _, w := range v.Webhooks {
			if w.ClientConfig.URL == nil || len(w.ClientConfig.CABundle) == 0 {
				return false, nil
			}
		}
		return true, nil
	})
}

// smokeCloneSet proves kruise's webhooks and CloneSet controller: a 2-replica
// CloneSet becomes ready, then it is deleted.
func smokeCloneSet(ctx context.Context, cfg *rest.Config, cs kubernetes.Interface) error {
	const name, ns = "k8scluster-smoke-cloneset", "default"
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	gvr := schema.GroupVersionResource{Group: "apps.kruise.io", Version: "v1alpha1", Resource: "clonesets"}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps.kruise.io/v1alpha1",
		"kind":       "CloneSet",
		"metadata":   map[string]any{"name": name, "namespace": ns},
		"spec": map[string]any{
			"replicas": int64(2),
			"selector": map[string]any{"matchLabels": map[string]any{"app": name}},
			"template": map[string]any{
				"metadata": map[string]any{"labels": map[string]any{"app": name}},
				"spec": map[string]any{"containers": []any{map[string]any{
					"name": "main", "image": "registry.k8s.io/pause:3.10",
				}}},
			},
		},
	}}
	api := dyn.Resource(gvr).Namespace(ns)
	if _, err := api.Create(ctx, obj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create smoke CloneSet: %w", err)
	}
	err = poll(ctx, 60*time.Second, "smoke CloneSet ready (2/2)", func(ctx context.Context) (bool, error) {
		u, err := api.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		ready, _, _ := unstructured.NestedInt64(u.Object, "status", "readyReplicas")
		gen, _, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
		return gen >= u.GetGeneration() && ready == 2, nil
	})
	if err != nil {
		return fmt.Errorf("%w; %s", err, diagnosePods(ctx, cs, ns, "app="+name))
	}
	logf("smoke CloneSet %s/%s is ready (2/2), deleting it", ns, name)
	fg := metav1.DeletePropagationForeground
	if err := api.Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &fg}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return poll(ctx, 60*time.Second, "smoke CloneSet and pods deleted", func(ctx context.Context) (bool, error) {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
		if err != nil {
			return false, err
		}
		_, err = api.Get(ctx, name, metav1.GetOptions{})
		return len(pods.Items) == 0 && apierrors.IsNotFound(err), nil
	})
}

func kruiseFiles(binDir string) (manager, template string, ok bool) {
	manager = filepath.Join(binDir, "kruise-manager")
	template = filepath.Join(binDir, "kruise", "webhook.yaml")
	if _, err := os.Stat(manager); err != nil {
		return "", "", false
	}
	if _, err := os.Stat(template); err != nil {
		return "", "", false
	}
	return manager, template, true
}

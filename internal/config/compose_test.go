package config_test

import (
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/cmekd/cmekd/internal/config"
)

// TestDockerCompose_ConfiguresAValidServer keeps docker-compose.yml honest where no Docker engine can
// run it: its cmekd service names only variables cmekd reads, and they load as a valid configuration
// pointing at the compose file's own PostgreSQL and LocalStack services.
func TestDockerCompose_ConfiguresAValidServer(t *testing.T) {
	raw, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Environment map[string]string `yaml:"environment"`
			DependsOn   map[string]any    `yaml:"depends_on"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	svc, ok := compose.Services["cmekd"]
	if !ok {
		t.Fatal("docker-compose.yml has no cmekd service")
	}
	known := map[string]bool{}
	for _, v := range config.Variables() {
		known[v] = true
	}
	vars := map[string]string{}
	for k, v := range svc.Environment {
		switch {
		case strings.HasPrefix(k, "CMEKD_"):
			if !known[k] {
				t.Errorf("docker-compose.yml sets %s, which cmekd does not read", k)
			}
			vars[k] = v
		case strings.HasPrefix(k, "AWS_"):
		default:
			t.Errorf("docker-compose.yml sets %s for cmekd", k)
		}
	}
	cfg, err := config.Load(vars)
	if err != nil {
		t.Fatalf("the compose environment does not load: %v", err)
	}
	if !strings.Contains(cfg.DatabaseURL, "@postgres:5432/") || cfg.KMSEndpoint != "http://localstack:4566" {
		t.Errorf("cmekd is not wired to the compose services: database %q, KMS %q", cfg.DatabaseURL, cfg.KMSEndpoint)
	}
	for _, dep := range []string{"postgres", "localstack"} {
		if _, ok := compose.Services[dep]; !ok {
			t.Errorf("no %s service", dep)
		}
		if _, ok := svc.DependsOn[dep]; !ok {
			t.Errorf("cmekd does not wait for %s", dep)
		}
	}
}

// TestDocs_DocumentEveryVariable: the configuration table of docs/configuration.md has a row for every
// variable cmekd reads, and none for a variable it does not.
func TestDocs_DocumentEveryVariable(t *testing.T) {
	raw, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]bool{}
	for _, line := range strings.Split(string(raw), "\n") {
		if name, ok := strings.CutPrefix(line, "| `CMEKD_"); ok {
			rows["CMEKD_"+name[:strings.Index(name, "`")]] = true
		}
	}
	for _, v := range config.Variables() {
		if !rows[v] {
			t.Errorf("docs/configuration.md has no row for %s", v)
		}
		delete(rows, v)
	}
	for v := range rows {
		t.Errorf("docs/configuration.md documents %s, which cmekd does not read", v)
	}
}

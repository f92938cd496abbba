package config_test

import (
	"strings"
	"testing"

	"github.com/cmekd/cmekd/internal/config"
)

const (
	controlRole = "arn:aws:iam::999988887777:role/cmekd-control"
	dataRole    = "arn:aws:iam::999988887777:role/cmekd-data"
)

// grantEnv is the required environment in grant mode, with changes.
func grantEnv(changes map[string]string) map[string]string {
	e := with(map[string]string{
		"CMEKD_PLATFORM_PRINCIPAL": controlRole,
		"CMEKD_DATA_PRINCIPAL":     dataRole,
		"CMEKD_DATA_PROFILE":       "cmekd-data",
	})
	for k, v := range changes {
		e[k] = v
	}
	return e
}

func TestLoad_GrantModeWithTwoRoles(t *testing.T) {
	t.Parallel()
	c, err := config.Load(grantEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !c.GrantMode() || c.DataPrincipal != dataRole || c.DataProfile != "cmekd-data" {
		t.Fatalf("config %+v", c)
	}
	user, err := config.Load(grantEnv(map[string]string{"CMEKD_DATA_PRINCIPAL": "arn:aws:iam::999988887777:user/path/cmekd-data"}))
	if err != nil || !user.GrantMode() {
		t.Fatalf("a user ARN is an identity too: %v", err)
	}
	one, err := config.Load(required())
	if err != nil || one.GrantMode() {
		t.Fatalf("without CMEKD_DATA_PRINCIPAL there is one identity: %v %v", one.GrantMode(), err)
	}
}

// TestLoad_GrantModeRefusesAccountPrincipals: an account root (or bare account id) in a key policy
// admits every identity of the account, so in grant mode neither identity may be one; the server
// refuses to start, naming the variable.
func TestLoad_GrantModeRefusesAccountPrincipals(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, variable string
		env            map[string]string
	}{
		{"platform root", "CMEKD_PLATFORM_PRINCIPAL", map[string]string{"CMEKD_PLATFORM_PRINCIPAL": "arn:aws:iam::999988887777:root"}},
		{"platform account id", "CMEKD_PLATFORM_PRINCIPAL", map[string]string{"CMEKD_PLATFORM_PRINCIPAL": "999988887777"}},
		{"data root", "CMEKD_DATA_PRINCIPAL", map[string]string{"CMEKD_DATA_PRINCIPAL": "arn:aws:iam::999988887777:root"}},
		{"data account id", "CMEKD_DATA_PRINCIPAL", map[string]string{"CMEKD_DATA_PRINCIPAL": "999988887777"}},
		{"data not a principal", "CMEKD_DATA_PRINCIPAL", map[string]string{"CMEKD_DATA_PRINCIPAL": "cmekd-data"}},
		{"data wildcard", "CMEKD_DATA_PRINCIPAL", map[string]string{"CMEKD_DATA_PRINCIPAL": "arn:aws:iam::999988887777:role/*"}},
		{"same identity twice", "CMEKD_DATA_PRINCIPAL", map[string]string{"CMEKD_DATA_PRINCIPAL": controlRole}},
		{"no profile", "CMEKD_DATA_PROFILE", map[string]string{"CMEKD_DATA_PROFILE": ""}},
		{"profile without principal", "CMEKD_DATA_PROFILE", map[string]string{"CMEKD_DATA_PRINCIPAL": ""}},
		{"dev mode", "CMEKD_DATA_PRINCIPAL", map[string]string{"CMEKD_DEV": "true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := loadError(t, grantEnv(tc.env))
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "configuration: "+tc.variable+": ") {
				t.Errorf("want one line naming %s, got:\n%s", tc.variable, err)
			}
		})
	}
}

// TestLoad_GrantModeReportsBothIdentitiesAtOnce: every bad variable is named in one start.
func TestLoad_GrantModeReportsBothIdentitiesAtOnce(t *testing.T) {
	t.Parallel()
	err := loadError(t, grantEnv(map[string]string{
		"CMEKD_PLATFORM_PRINCIPAL": "arn:aws:iam::999988887777:root",
		"CMEKD_DATA_PRINCIPAL":     "arn:aws:iam::111122223333:root",
		"CMEKD_DATA_PROFILE":       "",
		"CMEKD_PROBE_INTERVAL":     "soon",
	}))
	for _, name := range []string{"CMEKD_PLATFORM_PRINCIPAL", "CMEKD_DATA_PRINCIPAL", "CMEKD_DATA_PROFILE", "CMEKD_PROBE_INTERVAL"} {
		if !strings.Contains(err.Error(), "configuration: "+name+": ") {
			t.Errorf("%s not named:\n%s", name, err)
		}
	}
}

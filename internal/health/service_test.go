package health_test

import (
	"testing"
	"time"

	"github.com/cmekd/cmekd/internal/health"
	"github.com/cmekd/cmekd/internal/keyarn"
	"github.com/cmekd/cmekd/internal/testing/kmstest"
	"github.com/cmekd/cmekd/internal/testing/testkit"
	"github.com/cmekd/cmekd/internal/verify"
)

// newService is a health service that probes env as the platform, with a verifier that does not
// retry, a quiet logger, and a pause after six hours; cfg gives its store, interval and the rest.
func newService(tb testing.TB, env *kmstest.Env, cfg health.Config) *health.Service {
	tb.Helper()
	cfg.Verifier = verify.New(env.PlatformClient(tb), keyarn.Rules{}, verify.Options{Backoff: []time.Duration{}})
	cfg.Logger = testkit.Discard()
	cfg.PauseAfter = 6 * time.Hour
	return health.New(cfg)
}

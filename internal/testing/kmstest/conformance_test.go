package kmstest

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/modules/localstack"
)

func TestConformance_Emulator(t *testing.T) {
	t.Parallel()
	// A replica that is Creating for a while, as on AWS, so that the suite's wait for it is exercised.
	RunConformance(t, startEmulator(t, nil, 300*time.Millisecond))
}

func TestConformance_LocalStack(t *testing.T) {
	t.Parallel()
	if reason := dockerUnavailable(t.Context()); reason != "" {
		t.Skip("no Docker engine: " + reason + "; the LocalStack conformance run needs one")
	}
	ctx := t.Context()
	container, err := localstack.Run(ctx, "localstack/localstack:3.8", testcontainers.WithEnv(map[string]string{"SERVICES": "kms"}))
	testcontainers.CleanupContainer(t, container)
	if err != nil {
		t.Fatalf("starting LocalStack: %v", err)
	}
	endpoint, err := container.PortEndpoint(ctx, "4566/tcp", "http")
	if err != nil {
		t.Fatal(err)
	}
	// LocalStack puts every access key that is not an account number into its default account, whose
	// root may do anything: the platform is that root too, and policy subtests skip.
	RunConformance(t, &Env{
		Endpoint:          endpoint,
		Account:           "000000000000",
		Region:            "us-east-1",
		PlatformPrincipal: "arn:aws:iam::000000000000:root",
		PlatformAccessKey: "platform",
		CustomerAccessKey: "test",
	})
}

// dockerUnavailable explains why no Docker engine answers, or returns "" when one does. The
// testcontainers provider panics in some setups without an engine, so a panic is an answer too.
func dockerUnavailable(ctx context.Context) (reason string) {
	defer func() {
		if r := recover(); r != nil {
			reason = fmt.Sprint(r)
		}
	}()
	if os.Getenv("DOCKER_HOST") == "" {
		if _, err := os.Stat("/var/run/docker.sock"); err != nil {
			return "DOCKER_HOST is not set and /var/run/docker.sock is absent"
		}
	}
	provider, err := testcontainers.ProviderDefault.GetProvider()
	if err != nil {
		return err.Error()
	}
	defer provider.Close()
	if err := provider.Health(ctx); err != nil {
		return err.Error()
	}
	return ""
}

// TestConformance_Endpoint runs the suite against the KMS named by the environment:
//
//	CMEKD_TEST_KMS_ENDPOINT   endpoint URL, or "aws" for AWS's own regional endpoints
//	CMEKD_TEST_KMS_REGION     home region of the test keys
//	CMEKD_TEST_KMS_ACCOUNT    account of the customer's credentials (the standard AWS chain)
//	CMEKD_TEST_KMS_PLATFORM_ACCESS_KEY_ID, _SECRET_ACCESS_KEY, _SESSION_TOKEN (optional), _PRINCIPAL
//	                          the platform's own credentials and principal ARN; without them the
//	                          platform is the customer and the policy subtests skip
//
// Keys it creates are scheduled for deletion (7 days) when it ends.
func TestConformance_Endpoint(t *testing.T) {
	t.Parallel()
	endpoint := os.Getenv("CMEKD_TEST_KMS_ENDPOINT")
	if endpoint == "" {
		t.Skip("CMEKD_TEST_KMS_ENDPOINT is not set; set it (with CMEKD_TEST_KMS_REGION, CMEKD_TEST_KMS_ACCOUNT and AWS credentials) to run the suite against that KMS")
	}
	if endpoint == "aws" {
		endpoint = ""
	}
	region, account := os.Getenv("CMEKD_TEST_KMS_REGION"), os.Getenv("CMEKD_TEST_KMS_ACCOUNT")
	if region == "" || account == "" {
		t.Fatal("CMEKD_TEST_KMS_ENDPOINT needs CMEKD_TEST_KMS_REGION and CMEKD_TEST_KMS_ACCOUNT")
	}
	cfg, err := config.LoadDefaultConfig(t.Context(), config.WithRegion(region))
	if err != nil {
		t.Fatalf("loading AWS configuration: %v", err)
	}
	customer, err := cfg.Credentials.Retrieve(t.Context())
	if err != nil {
		t.Fatalf("customer credentials: %v", err)
	}
	env := &Env{
		Endpoint:          endpoint,
		Account:           account,
		Region:            region,
		PlatformPrincipal: "arn:aws:iam::" + account + ":root",
		PlatformAccessKey: customer.AccessKeyID,
		CustomerAccessKey: customer.AccessKeyID,
		credentials:       map[string]aws.CredentialsProvider{customer.AccessKeyID: cfg.Credentials},
		persistent:        true,
	}
	if akid := os.Getenv("CMEKD_TEST_KMS_PLATFORM_ACCESS_KEY_ID"); akid != "" {
		env.PlatformAccessKey = akid
		env.PlatformPrincipal = os.Getenv("CMEKD_TEST_KMS_PLATFORM_PRINCIPAL")
		if env.PlatformPrincipal == "" {
			t.Fatal("CMEKD_TEST_KMS_PLATFORM_ACCESS_KEY_ID needs CMEKD_TEST_KMS_PLATFORM_PRINCIPAL")
		}
		env.credentials[akid] = credentials.NewStaticCredentialsProvider(akid,
			os.Getenv("CMEKD_TEST_KMS_PLATFORM_SECRET_ACCESS_KEY"), os.Getenv("CMEKD_TEST_KMS_PLATFORM_SESSION_TOKEN"))
	}
	RunConformance(t, env)
}

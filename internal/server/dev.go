package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	awsemu "github.com/cmekd/cmekd/emulator/aws"
	"github.com/cmekd/cmekd/internal/config"
	"github.com/cmekd/cmekd/internal/keypolicy"
)

// Identities of dev mode's embedded KMS emulator.
const (
	devAccount          = "111122223333"
	devPlatformAccount  = "999988887777"
	devPlatformAKID     = "AKIADEVPLATFORM00001"
	devCustomerAKID     = "AKIADEVCUSTOMER00001"
	devSecret           = "dev-mode-not-a-secret"
	devRegion           = "us-west-2"
	devPlatformIdentity = "arn:aws:iam::" + devPlatformAccount + ":root"
)

// devEnv is dev mode once prepared: the platform's credentials, how to stop the emulator, and the
// banner to print once the server has the database and its address.
type devEnv struct {
	creds  aws.CredentialsProvider
	clouds cloudCredentials
	stop   func()
	banner func(w io.Writer)
	// database is what the banner says of the database; "" says nothing.
	database string
}

// devSaved is what dev mode keeps across restarts beside the emulator's keys, so that the exports a
// developer pasted keep working: the admin token and the emulator's address.
type devSaved struct {
	AdminToken string `json:"admin_token"`
	KMSAddr    string `json:"kms_addr"`
	GCPAddr    string `json:"gcp_addr,omitempty"`
	AzureAddr  string `json:"azure_addr,omitempty"`
}

// devMode starts the KMS emulator on a loopback port (the one of the last start when it is free),
// creates the platform's provider key and a customer key whose policy already admits the platform,
// and fills in the configuration to use them. It prints nothing: the banner is for the caller to
// print once everything else has started, and nothing is kept on disk until it has.
func devMode(ctx context.Context, cfg *config.Config, log *slog.Logger) (*devEnv, error) {
	if !slices.Contains(cfg.Regions, devRegion) {
		// Dev mode's keys live in devRegion: without it, every organisation it suggests would be refused.
		return nil, fmt.Errorf("configuration: CMEKD_REGIONS: dev mode's keys are in %s, so it must be one of the regions, got %s",
			devRegion, strings.Join(cfg.Regions, ","))
	}
	// The keys outlive the process next to the database they protect, so that what dev mode stored
	// yesterday still reads today: <user cache dir>/cmekd/<database name>.kms-state.json.
	stateFile, err := devStateFile(cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("dev mode: KMS emulator state: %w", err)
	}
	savedFile := strings.TrimSuffix(stateFile, ".kms-state.json") + ".dev.json"
	saved := loadDevSaved(savedFile)
	ln, err := listenDevKMS(saved.KMSAddr)
	if err != nil {
		return nil, fmt.Errorf("dev mode: listen for the KMS emulator: %w", err)
	}
	// Google Cloud and Azure are kept in the AWS emulator's state file, with their CA beside it.
	var saver atomic.Pointer[awsemu.Emulator]
	clouds, companions, err := newDevClouds(strings.TrimSuffix(stateFile, ".kms-state.json")+".clouds", log, func() {
		if e := saver.Load(); e != nil {
			_ = e.Save() // called outside the cloud's lock; the AWS emulator's is taken, then the cloud's
		}
	})
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("dev mode: %w", err)
	}
	emu, err := awsemu.Open(awsemu.Options{Account: devAccount, Logger: log.With("component", "kms-emulator"),
		Principals: map[string]string{devPlatformAKID: devPlatformIdentity}, ReplicaDelay: awsemu.DefaultReplicaDelay,
		StateFile: stateFile, Companions: companions})
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("dev mode: %w", err)
	}
	saver.Store(emu)
	srv := &http.Server{Handler: emu, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	env := &devEnv{stop: func() { clouds.stop(); _ = srv.Close() }, creds: credentials.NewStaticCredentialsProvider(devPlatformAKID, devSecret, "")}
	endpoint := "http://" + ln.Addr().String()
	customerARN, err := devKeys(ctx, cfg, endpoint)
	if err == nil {
		err = clouds.start(ctx, cfg, saved)
	}
	if err != nil {
		env.stop()
		return nil, fmt.Errorf("dev mode: %w", err)
	}
	env.clouds = clouds.credentials()
	if cfg.AdminToken == "" {
		cfg.AdminToken = config.Secret(saved.AdminToken)
	}
	if cfg.AdminToken == "" {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		cfg.AdminToken = config.Secret("dev_" + base64.RawURLEncoding.EncodeToString(b))
	}
	// Dev mode prints the admin token: unless told otherwise, it answers on loopback only.
	if cfg.Addr == ":8080" {
		cfg.Addr = "127.0.0.1:8080"
	}
	token := string(cfg.AdminToken)
	env.banner = func(w io.Writer) {
		now := devSaved{AdminToken: token, KMSAddr: ln.Addr().String(), GCPAddr: clouds.gcpAddr, AzureAddr: clouds.azureAddr}
		if now != saved {
			saveDevSaved(savedFile, now)
		}
		printDevBanner(w, devBanner{database: env.database, endpoint: endpoint, stateFile: stateFile, customerARN: customerARN, token: token, addr: cfg.Addr,
			clouds: clouds.banner(), cloudExports: clouds.exports()})
	}
	return env, nil
}

// devKeys makes (or finds again) dev mode's customer key and the platform's provider key in the
// emulator at endpoint, and points the configuration at them; it returns the customer key's ARN.
func devKeys(ctx context.Context, cfg *config.Config, endpoint string) (string, error) {
	customer := awskms.New(awskms.Options{Region: devRegion, BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider(devCustomerAKID, devSecret, "")})
	doc := map[string]any{"Version": "2012-10-17", "Statement": []any{
		map[string]any{"Sid": "cmekdKeyOwnerAdministers", "Effect": "Allow", "Principal": map[string]any{"AWS": "arn:aws:iam::" + devAccount + ":root"}, "Action": "kms:*", "Resource": "*"},
		keypolicy.UseStatement(devPlatformIdentity, nil),
	}}
	pb, _ := json.Marshal(doc)
	key, err := devKey(ctx, customer, "dev customer key", string(pb))
	if err != nil {
		return "", fmt.Errorf("dev mode: customer key: %w", err)
	}
	// The provider key lives in the same emulator; its policy admits the platform the same way.
	provider, err := devKey(ctx, customer, "dev provider key", string(pb))
	if err != nil {
		return "", fmt.Errorf("dev mode: provider key: %w", err)
	}
	cfg.KMSEndpoint = endpoint
	cfg.PlatformPrincipal = devPlatformIdentity
	if cfg.ProviderKeyARN == "" {
		cfg.ProviderKeyARN = aws.ToString(provider.KeyMetadata.Arn)
	}
	return aws.ToString(key.KeyMetadata.Arn), nil
}

// listenDevKMS listens on addr, the emulator's address of the last start, when it is free, so that
// a pasted CMEKD_DEV_KMS still reaches it; otherwise on a free loopback port.
func listenDevKMS(addr string) (net.Listener, error) {
	if addr != "" {
		if ln, err := net.Listen("tcp", addr); err == nil {
			return ln, nil
		}
	}
	return net.Listen("tcp", "127.0.0.1:0")
}

func loadDevSaved(path string) devSaved {
	var s devSaved
	if b, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(b, &s) // a damaged file is a first start
	}
	return s
}

func saveDevSaved(path string, s devSaved) {
	b, _ := json.Marshal(s)
	_ = os.WriteFile(path, b, 0o600) // the admin token: for the developer only
}

// devBanner is what dev mode prints once the server is up.
type devBanner struct {
	database, endpoint, stateFile, customerARN, token, addr string
	// clouds and cloudExports are what dev mode prints of Google Cloud and Azure.
	clouds, cloudExports string
}

// printDevBanner prints where things are, what to try, and last the exports to paste.
func printDevBanner(w io.Writer, b devBanner) {
	port := b.addr
	if i := strings.LastIndex(port, ":"); i >= 0 {
		port = port[i+1:]
	}
	// Organisation names are unique: the suggested one carries the key's id, new with a new state.
	orgName := "Acme " + b.customerARN[strings.LastIndex(b.customerARN, "/")+1:][:8]
	database := ""
	if b.database != "" {
		database = "\n  database           " + b.database
	}
	fmt.Fprintf(w, `
cmekd dev mode: embedded KMS emulator at %s (keys kept in %s)%s
  customer key ARN:  %s   (its policy already admits the platform)
  platform principal %s
  keys are probed every few seconds; the admin token and the emulator's address stay the same across restarts

Then, for example (make build puts cmekctl in bin/; the README walks through it):
  cmekctl key-check "$CMEKD_KEY_ARN"
  cmekctl orgs create --name "%s" --region %s --key-arn "$CMEKD_KEY_ARN"
  scripts/walkthrough.sh        (every step of the README's walkthrough, end to end)

Drive the key as its owner with the AWS CLI (the owner's access key, any secret):
  AWS_ACCESS_KEY_ID=$CMEKD_DEV_OWNER_ACCESS_KEY AWS_SECRET_ACCESS_KEY=x aws --endpoint-url "$CMEKD_DEV_KMS" --region %s kms disable-key --key-id "$CMEKD_KEY_ARN"
%s
Export these in the shell you run cmekctl in:
%s  export CMEKD_URL=http://127.0.0.1:%s
  export CMEKD_TOKEN=%s
  export CMEKD_KEY_ARN=%s
  export CMEKD_DEV_KMS=%s CMEKD_DEV_OWNER_ACCESS_KEY=%s

`, b.endpoint, b.stateFile, database, b.customerARN, devPlatformIdentity, orgName, devRegion, devRegion, b.clouds, b.cloudExports,
		port, b.token, b.customerARN, b.endpoint, devCustomerAKID)
}

// devStateFile is where dev mode keeps its emulator's state for the database of databaseURL.
func devStateFile(databaseURL string) (string, error) {
	name := "cmekd"
	if u, err := url.Parse(databaseURL); err == nil && strings.Trim(u.Path, "/") != "" {
		name = strings.Trim(u.Path, "/")
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	dir = filepath.Join(dir, "cmekd")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	return filepath.Join(dir, filepath.Base(name)+".kms-state.json"), nil
}

// devKey returns the key with description that an earlier start made, or makes it. A key the
// developer disabled is still theirs; one scheduled for deletion is not reused.
func devKey(ctx context.Context, c *awskms.Client, description, policy string) (*awskms.DescribeKeyOutput, error) {
	keys, err := c.ListKeys(ctx, &awskms.ListKeysInput{Limit: aws.Int32(1000)})
	if err != nil {
		return nil, err
	}
	for _, k := range keys.Keys {
		md, err := c.DescribeKey(ctx, &awskms.DescribeKeyInput{KeyId: k.KeyArn})
		if err != nil {
			return nil, err
		}
		state := md.KeyMetadata.KeyState
		if aws.ToString(md.KeyMetadata.Description) == description && (state == "Enabled" || state == "Disabled") {
			return md, nil
		}
	}
	created, err := c.CreateKey(ctx, &awskms.CreateKeyInput{Description: aws.String(description), Policy: aws.String(policy)})
	if err != nil {
		return nil, err
	}
	return &awskms.DescribeKeyOutput{KeyMetadata: created.KeyMetadata}, nil
}

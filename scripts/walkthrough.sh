#!/usr/bin/env bash
# The README's tour, end to end, with cmekctl: start `make run`, paste the exports it prints,
# then run this. It checks the dev customer key, creates an organisation linked to it, stores
# encrypted documents, then (with the AWS CLI v2) disables the key as its owner and shows the
# collection halt and recover. cmd/cmekctl's TestWalkthrough runs it against a real server.
set -euo pipefail
: "${CMEKD_URL:?export what make run prints (CMEKD_URL, CMEKD_TOKEN, CMEKD_KEY_ARN, CMEKD_DEV_KMS)}"
: "${CMEKD_TOKEN:?export what make run prints}"
: "${CMEKD_KEY_ARN:?export what make run prints}"
if ! command -v cmekctl >/dev/null; then
  PATH="$(cd "$(dirname "$0")/.." && pwd)/bin:$PATH"
  command -v cmekctl >/dev/null || { echo "cmekctl not found: run make build, or put it on PATH" >&2; exit 2; }
fi
region=$(cut -d: -f4 <<<"$CMEKD_KEY_ARN")

step() { printf '\n$ %s\n' "$*"; "$@"; }

# 1. Can the platform use the key? (Exit status 1 and the statement to add, if not.)
step cmekctl key-check "$CMEKD_KEY_ARN"

# 2. Link it for good: an organisation whose data is encrypted under that key.
printf '\n$ export CMEKD_ORG=$(cmekctl orgs create ... -o id)\n'
CMEKD_ORG=$(cmekctl orgs create --name "Acme $(date +%s)-$RANDOM" --region "$region" --key-arn "$CMEKD_KEY_ARN" -o id)
export CMEKD_ORG
step cmekctl orgs get

# 3. A collection, and documents sealed under data keys that the customer's key wraps.
printf '\n$ COL=$(cmekctl collections create --name events -o id)\n'
COL=$(cmekctl collections create --name events -o id)
printf '{"user":"ada","action":"login"}\n{"user":"grace","action":"logout"}\n' >"${TMPDIR:-/tmp}/walkthrough-docs.$$"
step cmekctl documents ingest "$COL" -f "${TMPDIR:-/tmp}/walkthrough-docs.$$"
rm -f "${TMPDIR:-/tmp}/walkthrough-docs.$$"
step cmekctl documents "$COL"
step cmekctl key-status

# 4. The customer disables the key: the platform notices and halts ingestion; re-enabled, it recovers.
# The first aws on PATH that is v2 (pip's awscli is v1, which has no say over this endpoint's keys).
awscli=
IFS=: read -ra dirs <<<"$PATH"
for d in "${dirs[@]}"; do
  if [ -x "$d/aws" ] && "$d/aws" --version 2>/dev/null | grep -q '^aws-cli/2'; then awscli=$d/aws; break; fi
done
if [ -z "$awscli" ]; then
  echo
  echo "skipping the key owner's steps: they need the AWS CLI v2 (Debian's awscli) on PATH"
  step cmekctl events
  exit 0
fi
: "${CMEKD_DEV_KMS:?export what make run prints}"
owner() {
  printf '\n$ aws kms %s\n' "$*"
  AWS_ACCESS_KEY_ID=${CMEKD_DEV_OWNER_ACCESS_KEY:-AKIADEVCUSTOMER00001} AWS_SECRET_ACCESS_KEY=x AWS_PAGER= \
    AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
    "$awscli" --endpoint-url "$CMEKD_DEV_KMS" --region "$region" kms "$@"
}
owner disable-key --key-id "$CMEKD_KEY_ARN"
step cmekctl probe || true # the probe answers the key status, unavailable now
step cmekctl collections
printf '\n$ echo '"'"'{"n":1}'"'"' | cmekctl documents ingest "$COL"    # refused while the key is disabled\n'
if echo '{"n":1}' | cmekctl documents ingest "$COL"; then
  echo "ingest succeeded with the key disabled" >&2
  exit 1
fi
owner enable-key --key-id "$CMEKD_KEY_ARN"
step cmekctl probe
step cmekctl collections
step cmekctl events

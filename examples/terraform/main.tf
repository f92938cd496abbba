# A customer's key, the policy that lets cmekd use it, and the organisation it protects, in one
# `terraform apply` against dev mode (`make run`). README.md in this directory says how to run it.

terraform {
  required_providers {
    cmekd = { source = "cmekd/cmekd" }
    aws   = { source = "hashicorp/aws" }
  }
}

variable "kms_endpoint" {
  description = "The KMS endpoint: dev mode prints it as CMEKD_DEV_KMS."
  type        = string
}

variable "owner_access_key" {
  description = "The key owner's access key id: dev mode prints it as CMEKD_DEV_OWNER_ACCESS_KEY."
  type        = string
}

variable "region" {
  description = "The organisation's home region; dev mode serves us-west-2."
  type        = string
  default     = "us-west-2"
}

variable "webhook_url" {
  description = "Where cmekd POSTs the organisation's events (dev mode allows http to 127.0.0.1)."
  type        = string
  default     = "http://127.0.0.1:9999/cmekd-events"
}

# cmekd's URL and token come from CMEKD_URL and CMEKD_TOKEN.
provider "cmekd" {}

# The customer's AWS account, here dev mode's KMS emulator (it checks no signatures).
provider "aws" {
  region                      = var.region
  access_key                  = var.owner_access_key
  secret_key                  = "dev-mode-ignores-the-signature"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  skip_requesting_account_id  = true
  endpoints {
    kms = var.kms_endpoint
    sts = var.kms_endpoint
  }
}

resource "aws_kms_key" "tenant" {
  description             = "Acme's data in cmekd"
  deletion_window_in_days = 7
}

# The whole key policy cmekd needs: the owner's statement, cmekd's use and grants statements.
data "cmekd_key_policy" "tenant" {
  key_arn = aws_kms_key.tenant.arn
}

resource "aws_kms_key_policy" "tenant" {
  key_id = aws_kms_key.tenant.key_id
  policy = data.cmekd_key_policy.tenant.json
}

# Every check cmekd will run on the key, after the policy is on it.
data "cmekd_key_check" "tenant" {
  key_arn    = aws_kms_key.tenant.arn
  region     = var.region
  depends_on = [aws_kms_key_policy.tenant]
}

resource "cmekd_organization" "acme" {
  name    = "Acme (Terraform)"
  region  = var.region
  key_arn = aws_kms_key.tenant.arn
  # cmekd verifies the key at creation: the policy must be on it first.
  depends_on = [aws_kms_key_policy.tenant]
  timeouts {
    create = "2m"
  }
}

resource "cmekd_collection" "events" {
  org_id = cmekd_organization.acme.id
  name   = "events"
}

resource "cmekd_webhook" "alerts" {
  org_id = cmekd_organization.acme.id
  url    = var.webhook_url
  events = ["key.unavailable", "key.restored", "collection.ingest_halted", "collection.paused"]
}

resource "cmekd_secret_scope" "snowflake" {
  org_id = cmekd_organization.acme.id
  name   = "snowflake"
}

# Key events: AWS KMS events about the key, delivered by EventBridge, make cmekd probe it at once.
# cmekd shows the api key, and the setup that holds it, once: kept in state, sensitive.
resource "cmekd_key_events" "acme" {
  org_id = cmekd_organization.acme.id
  rotate = "1" # any other value: a new api key
}

output "org_id" {
  value = cmekd_organization.acme.id
}

output "key_checks_pass" {
  value = data.cmekd_key_check.tenant.ok
}

output "webhook_secret" {
  value     = cmekd_webhook.alerts.secret
  sensitive = true
}

# The AWS CLI script that makes EventBridge deliver the key's events to cmekd (it holds the api key).
output "key_events_setup_cli" {
  value     = cmekd_key_events.acme.cli
  sensitive = true
}

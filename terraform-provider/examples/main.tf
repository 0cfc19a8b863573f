# A vector cluster with nightly backups and a maintenance window, an
# inference endpoint, an API key for CI and a webhook endpoint for on-call.
# Build the provider and point Terraform at it with
# dev_overrides (see the README), then:
#
#   export QUARTERMASTER_ENDPOINT=http://127.0.0.1:8080 QUARTERMASTER_API_KEY=qm_...
#   terraform plan && terraform apply
#
# Backups and GPU endpoints need the Starter plan or above; the maintenance
# window, Business (it is left out on other plans).

terraform {
  required_providers {
    quartermaster = { source = "quartermaster/quartermaster" }
  }
}

provider "quartermaster" {}

data "quartermaster_regions" "all" {}
data "quartermaster_plans" "all" {}

locals {
  plan = one([for p in data.quartermaster_plans.all.plans : p if p.id == data.quartermaster_plans.all.current])
}

resource "quartermaster_vector_cluster" "search" {
  name    = "search"
  region  = data.quartermaster_regions.all.names[0]
  version = "1.13.6"
  nodes   = 1
  labels  = { team = "search" }
}

resource "quartermaster_backup_schedule" "nightly" {
  cluster_id     = quartermaster_vector_cluster.search.id
  schedule       = "0 2 * * *"
  retention_days = 7
}

# Upgrades and resizes wait for Sunday night, UTC.
resource "quartermaster_maintenance_window" "weekly" {
  count = local.plan.maintenance_windows ? 1 : 0

  cluster_id     = quartermaster_vector_cluster.search.id
  day            = "sun"
  start_hour     = 22
  duration_hours = 4
}

resource "quartermaster_inference_endpoint" "chat" {
  name             = "chat"
  region           = data.quartermaster_regions.all.names[0]
  model_repository = "meta-llama/Llama-3.1-8B-Instruct"
  gpu_model        = "nvidia-l4"
  min_replicas     = 0
  max_replicas     = 2

  scale_to_zero_after_seconds = 900
}

resource "quartermaster_api_key" "ci" {
  name   = "ci"
  scopes = ["clusters:read"]
}

# Needs an API key with the webhooks:read and webhooks:write scopes.
resource "quartermaster_webhook_endpoint" "on_call" {
  url         = "https://hooks.example.com/quartermaster"
  event_types = ["cluster.degraded", "endpoint.degraded", "backup.failed", "invoice.payment_failed"]
  description = "on-call"
}

output "plan" {
  value = local.plan.id
}

output "qdrant_url" {
  value = quartermaster_vector_cluster.search.endpoint
}

output "chat_url" {
  value = quartermaster_inference_endpoint.chat.endpoint
}

output "ci_token" {
  value     = quartermaster_api_key.ci.token
  sensitive = true
}

output "on_call_webhook_secret" {
  value     = quartermaster_webhook_endpoint.on_call.secret
  sensitive = true
}

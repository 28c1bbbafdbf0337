#!/usr/bin/env bash
# Driftline on Google Cloud, in order: project APIs, image, service accounts, BigQuery datasets and
# grants, the Cloud Storage buckets (reports, config) and their grants, secrets, the Cloud Run service
# with IAP on the service itself, readers, and the Cloud Scheduler job of scheduler.yaml.
#
#   deploy/gcp.sh            # do it (safe to run again: each step checks before it creates)
#   deploy/gcp.sh --dry-run  # print every command instead, one per line, prefixed "+ "
#
# docs/deploy.md walks through it step by step; tests/deploy/test_gcp_script.py checks every gcloud
# and bq command and flag it prints against tests/deploy/gcloud_reference.txt.
set -euo pipefail

# ---- settings: override any of them in the environment ----------------------------------------------
PROJECT_ID=${PROJECT_ID:-my-project}
REGION=${REGION:-europe-west1}                     # Cloud Run, Scheduler, buckets, Artifact Registry
BQ_LOCATION=${BQ_LOCATION:-EU}                     # the datasets' location = the model config's store.location
LOGS_DATASET=${LOGS_DATASET:-ml_logs}              # predictions and labels (Driftline only reads them)
DRIFTLINE_DATASET=${DRIFTLINE_DATASET:-driftline}  # runs, state, alerts, the reference (Driftline writes)
SERVICE=${SERVICE:-driftline}                      # the Cloud Run service
CONFIG_DIR=${CONFIG_DIR:-config}                   # the model configs (*.yaml), copied to the config bucket
READERS=${READERS:-group:ml-team@example.com}      # who may read /report through IAP
SERVING_SA_NAME=${SERVING_SA_NAME:-model-serving}  # the serving app's service account (it logs predictions)
REPORTS_BUCKET=${REPORTS_BUCKET:-$PROJECT_ID-driftline-reports}
CONFIG_BUCKET=${CONFIG_BUCKET:-$PROJECT_ID-driftline-config}
SECRETS=${SECRETS:-SLACK_BOT_TOKEN=driftline-slack-bot-token TWILIO_ACCOUNT_SID=driftline-twilio-account-sid TWILIO_AUTH_TOKEN=driftline-twilio-auth-token}
IMAGE_TAG=${IMAGE_TAG:-$(git rev-parse --short HEAD 2>/dev/null || echo latest)}
# the Scheduler job: the values of scheduler.yaml (tests/test_scheduler.py checks they agree)
SCHEDULE=${SCHEDULE:-"5 * * * *"}
# ------------------------------------------------------------------------------------------------------

DRY_RUN=0
case "${1:-}" in
  --dry-run) DRY_RUN=1 ;;
  "") ;;
  *) echo "usage: $0 [--dry-run]" >&2; exit 2 ;;
esac

RUN_SA=driftline-run@$PROJECT_ID.iam.gserviceaccount.com
SCHEDULER_SA=driftline-scheduler@$PROJECT_ID.iam.gserviceaccount.com
SERVING_SA=$SERVING_SA_NAME@$PROJECT_ID.iam.gserviceaccount.com
IMAGE=$REGION-docker.pkg.dev/$PROJECT_ID/driftline/driftline:$IMAGE_TAG

run() {  # a command that changes something
  if (( DRY_RUN )); then printf '+'; printf ' %q' "$@"; printf '\n'; else "$@"; fi
}
exists() {  # a read-only check; in a dry run it is printed and reports "missing", so every step shows
  if (( DRY_RUN )); then printf '+'; printf ' %q' "$@"; printf '\n'; return 1; fi
  "$@" >/dev/null 2>&1
}
value() {  # a read-only lookup whose output the script needs; a placeholder in a dry run
  if (( DRY_RUN )); then printf '+' >&2; printf ' %q' "$@" >&2; printf '\n' >&2; echo "$DRY_VALUE"; else "$@"; fi
}
step() { echo "== $*" >&2; }

step "0. project and APIs"
run gcloud config set project "$PROJECT_ID"
run gcloud services enable run.googleapis.com artifactregistry.googleapis.com cloudbuild.googleapis.com \
  cloudscheduler.googleapis.com secretmanager.googleapis.com bigquery.googleapis.com \
  monitoring.googleapis.com iap.googleapis.com storage.googleapis.com
DRY_VALUE=123456789012 PROJECT_NUMBER=$(value gcloud projects describe "$PROJECT_ID" --format='value(projectNumber)')
# Cloud Run's deterministic URL: known before the first deploy, so the service can be told its audience.
SERVICE_URL=https://$SERVICE-$PROJECT_NUMBER.$REGION.run.app
IAP_SA=service-$PROJECT_NUMBER@gcp-sa-iap.iam.gserviceaccount.com

step "1. the image"
exists gcloud artifacts repositories describe driftline --location="$REGION" ||
  run gcloud artifacts repositories create driftline --repository-format=docker --location="$REGION"
run gcloud builds submit --tag "$IMAGE" .

step "2. service accounts: Driftline's, the scheduler's, the serving app's"
for sa in "driftline-run:Driftline service" "driftline-scheduler:Driftline scheduler" \
          "$SERVING_SA_NAME:Model serving app (logs predictions)"; do
  exists gcloud iam service-accounts describe "${sa%%:*}@$PROJECT_ID.iam.gserviceaccount.com" ||
    run gcloud iam service-accounts create "${sa%%:*}" --display-name="${sa#*:}"
done
# add-iam-policy-binding is idempotent: a binding that exists is left as it is.
for role in roles/bigquery.jobUser roles/monitoring.metricWriter; do
  run gcloud projects add-iam-policy-binding "$PROJECT_ID" --member="serviceAccount:$RUN_SA" --role="$role" \
    --condition=None
done

step "3. BigQuery: the logs dataset (read-only for Driftline) and Driftline's own (written)"
for ds in "$LOGS_DATASET" "$DRIFTLINE_DATASET"; do
  exists bq show --dataset "$PROJECT_ID:$ds" || run bq mk --dataset --location="$BQ_LOCATION" "$PROJECT_ID:$ds"
done
# GRANT is idempotent. The serving app writes the logs dataset's tables (streaming inserts) and nothing else.
grants="GRANT \`roles/bigquery.dataViewer\` ON SCHEMA \`$PROJECT_ID.$LOGS_DATASET\` TO 'serviceAccount:$RUN_SA';"
grants+=" GRANT \`roles/bigquery.dataEditor\` ON SCHEMA \`$PROJECT_ID.$DRIFTLINE_DATASET\` TO 'serviceAccount:$RUN_SA';"
grants+=" GRANT \`roles/bigquery.dataEditor\` ON SCHEMA \`$PROJECT_ID.$LOGS_DATASET\` TO 'serviceAccount:$SERVING_SA';"
run bq query --nouse_legacy_sql --location="$BQ_LOCATION" "$grants"

step "4. the config directory, its tables, and its bucket"
if [[ ! -d "$CONFIG_DIR" ]] || ! compgen -G "$CONFIG_DIR/*.yaml" >/dev/null; then
  run mkdir -p "$CONFIG_DIR"
  echo "   $CONFIG_DIR/ has no model config (*.yaml): write one (docs/bigquery.md, step 2), then run again" >&2
  (( DRY_RUN )) || exit 1
fi
# As yourself (needs dataEditor on both datasets): Driftline's tables, and the log tables if missing.
run driftline init --config-dir "$CONFIG_DIR"
for bucket in "$REPORTS_BUCKET" "$CONFIG_BUCKET"; do
  exists gcloud storage buckets describe "gs://$bucket" ||
    run gcloud storage buckets create "gs://$bucket" --location="$REGION" --uniform-bucket-level-access
done
run gcloud storage buckets add-iam-policy-binding "gs://$REPORTS_BUCKET" \
  --member="serviceAccount:$RUN_SA" --role=roles/storage.objectUser
run gcloud storage buckets add-iam-policy-binding "gs://$CONFIG_BUCKET" \
  --member="serviceAccount:$RUN_SA" --role=roles/storage.objectViewer
run gcloud storage rsync "$CONFIG_DIR" "gs://$CONFIG_BUCKET" --delete-unmatched-destination-objects

step "5. secrets (Secret Manager): the value of each from the environment variable it is named after"
set_secrets=()
for pair in $SECRETS; do
  var=${pair%%=*} name=${pair#*=}
  if ! exists gcloud secrets describe "$name"; then
    if (( ! DRY_RUN )) && [[ -z "${!var:-}" ]]; then
      echo "error: secret $name does not exist: set $var to its value and run again" >&2; exit 1
    fi
    run gcloud secrets create "$name" --replication-policy=automatic --data-file=<(printf %s "${!var:-}")
  fi
  run gcloud secrets add-iam-policy-binding "$name" --member="serviceAccount:$RUN_SA" \
    --role=roles/secretmanager.secretAccessor
  set_secrets+=("$var=$name:latest")
done

step "6. the Cloud Run service, IAP on the service itself"
env_vars=DRIFTLINE_AUTH_MODE=google,DRIFTLINE_PUBLIC_URL=$SERVICE_URL,DRIFTLINE_SCHEDULER_SERVICE_ACCOUNT=$SCHEDULER_SA
env_vars+=,DRIFTLINE_PROJECT_ID=$PROJECT_ID,DRIFTLINE_REPORT_DIR=/reports,DRIFTLINE_CONFIG_DIR=/etc/driftline
env_vars+=,DRIFTLINE_IAP_AUDIENCE=/projects/$PROJECT_NUMBER/locations/$REGION/services/$SERVICE
secrets_flag=$(IFS=,; echo "${set_secrets[*]}")
# The IAP service agent must exist before IAP can invoke the service.
run gcloud beta services identity create --service=iap.googleapis.com --project="$PROJECT_ID"
run gcloud beta run deploy "$SERVICE" --image="$IMAGE" --region="$REGION" --service-account="$RUN_SA" \
  --iap --no-invoker-iam-check --timeout=1800 --cpu=2 --memory=2Gi --max-instances=3 \
  --add-volume="name=reports,type=cloud-storage,bucket=$REPORTS_BUCKET" \
  --add-volume-mount=volume=reports,mount-path=/reports \
  --add-volume="name=config,type=cloud-storage,bucket=$CONFIG_BUCKET,readonly=true" \
  --add-volume-mount=volume=config,mount-path=/etc/driftline \
  --set-env-vars="$env_vars" ${secrets_flag:+--set-secrets="$secrets_flag"}
run gcloud run services add-iam-policy-binding "$SERVICE" --region="$REGION" \
  --member="serviceAccount:$IAP_SA" --role=roles/run.invoker

step "7. readers (and the scheduler) through IAP"
for member in "$READERS" "serviceAccount:$SCHEDULER_SA"; do
  run gcloud iap web add-iam-policy-binding --resource-type=cloud-run --service="$SERVICE" --region="$REGION" \
    --member="$member" --role=roles/iap.httpsResourceAccessor
done

step "8. the Cloud Scheduler job (scheduler.yaml)"
run gcloud run services add-iam-policy-binding "$SERVICE" --region="$REGION" \
  --member="serviceAccount:$SCHEDULER_SA" --role=roles/run.invoker
DRY_VALUE=you@example.com ME=$(value gcloud config get-value account)
run gcloud iam service-accounts add-iam-policy-binding "$SCHEDULER_SA" \
  --member="user:$ME" --role=roles/iam.serviceAccountUser
job_flags=(--location="$REGION" --schedule="$SCHEDULE" --time-zone=Etc/UTC --uri="$SERVICE_URL/run"
  --http-method=POST --oidc-service-account-email="$SCHEDULER_SA" --oidc-token-audience="$SERVICE_URL"
  --attempt-deadline=1800s --max-retry-attempts=2 --max-retry-duration=0s --min-backoff=120s
  --max-backoff=600s --max-doublings=2)
if exists gcloud scheduler jobs describe driftline-run --location="$REGION"; then
  run gcloud scheduler jobs update http driftline-run "${job_flags[@]}"
else
  run gcloud scheduler jobs create http driftline-run "${job_flags[@]}"
fi

step "done: $SERVICE_URL (check it: docs/deploy.md, step 9)"

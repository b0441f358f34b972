#!/usr/bin/env bash
# Deploys the web app (web/) to the S3 bucket of a deployed template.yaml stack, behind its
# CloudFront distribution (docs/deploy.md, "The web app").
#
#   deploy/web.sh STACK [--skip-build] [--prune] [--dry-run]
#
#   STACK         the CloudFormation stack of template.yaml (EnableCloudFront "true")
#   --skip-build  upload web/dist/ as committed instead of building it (no Node needed)
#   --prune       delete files of earlier builds from the bucket (kept by default: a page loaded
#                 before this deployment may still ask for its bundles; the bucket keeps deleted
#                 objects as old versions for 30 days either way)
#   --dry-run     build and print config.json and what would be uploaded, change nothing
#
# Steps: build the app (npm ci && npm run build), write its config.json from the stack's outputs
# (api_base_url "" when the API is on the app's own distribution, as template.yaml puts it under
# /api/*, else ApiUrl; ws_url: the WebSocketUrl output when the stack has one, else null, and the
# app uses server-sent events; metrics_dashboard_url: the OperatorDashboardUrl output, which the
# operator page links to, as Lambda has no /metrics to chart), upload the hashed bundles (assets/*, cached for a year, immutable),
# then the other files and config.json (no-cache: revalidated on every use), index.html last (the
# switch to the new build), and invalidate the revalidated paths on the distribution.
# TACOS_WEB_API_BASE_URL / TACOS_WEB_WS_URL, when set, override what the outputs say.
#
# Needs the AWS CLI v2 with credentials for the stack's account, and python3; Node 20+ unless
# --skip-build.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit "${1:-0}"; }

STACK=
BUILD=1
PRUNE=0
DRY_RUN=0
for arg in "$@"; do
  case $arg in
    --skip-build) BUILD=0 ;;
    --prune) PRUNE=1 ;;
    --dry-run) DRY_RUN=1 ;;
    -h | --help) usage 0 ;;
    -*) echo "unknown option $arg" >&2; usage 2 ;;
    *) [ -z "$STACK" ] || usage 2; STACK=$arg ;;
  esac
done
[ -n "$STACK" ] || usage 2
command -v aws >/dev/null || { echo "deploy/web.sh needs the AWS CLI (aws)" >&2; exit 1; }

IMMUTABLE="public, max-age=31536000, immutable"
REVALIDATE="no-cache"

# ---- the stack's outputs ----------------------------------------------------------------------
OUTPUTS=$(aws cloudformation describe-stacks --stack-name "$STACK" \
  --query 'Stacks[0].Outputs' --output json)
output() { # KEY → its value, or nothing when the stack has no such output
  python3 -c 'import json,sys; print(next((o["OutputValue"] for o in json.loads(sys.argv[1]) or [] if o["OutputKey"] == sys.argv[2]), ""))' \
    "$OUTPUTS" "$1"
}
BUCKET=$(output AppBucketName)
DISTRIBUTION=$(output DistributionId)
APP_URL=$(output AppUrl)
API_URL=$(output ApiUrl)
WS_URL=$(output WebSocketUrl)
DASHBOARD_URL=$(output OperatorDashboardUrl)
if [ -z "$BUCKET" ] || [ -z "$DISTRIBUTION" ]; then
  echo "stack $STACK has no AppBucketName/DistributionId outputs: deploy template.yaml with EnableCloudFront=true" >&2
  exit 1
fi

# ---- build ------------------------------------------------------------------------------------
if [ "$BUILD" = 1 ]; then
  command -v npm >/dev/null || { echo "building the app needs Node (npm); or pass --skip-build" >&2; exit 1; }
  echo "==> building web/ (npm ci && npm run build)"
  (cd web && npm ci --no-audit --no-fund && npm run build)
fi
[ -f web/dist/index.html ] || { echo "web/dist/index.html is missing: build the app first" >&2; exit 1; }

# ---- config.json ------------------------------------------------------------------------------
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
# Same origin when the API is served by the app's own distribution: the page's CSP allows its own
# origin, and the app keeps working under any domain name the distribution is given.
python3 - "$APP_URL" "$API_URL" "$WS_URL" "$DASHBOARD_URL" >"$STAGE/config.json" <<'EOF'
import json, os, sys
from urllib.parse import urlsplit

app, api, ws, dashboard = sys.argv[1:5]
origin = lambda url: urlsplit(url)[:2]
api_base_url = os.environ.get("TACOS_WEB_API_BASE_URL")
if api_base_url is None:
    api_base_url = "" if api and app and origin(api) == origin(app) else api.rstrip("/")
ws_url = os.environ.get("TACOS_WEB_WS_URL", ws) or None
print(json.dumps({"api_base_url": api_base_url, "ws_url": ws_url, "metrics_dashboard_url": dashboard or None}))
EOF
echo "==> config.json: $(cat "$STAGE/config.json")"

# ---- upload -----------------------------------------------------------------------------------
DEST=s3://$BUCKET
S3_FLAGS=(--only-show-errors)
[ "$DRY_RUN" = 1 ] && S3_FLAGS+=(--dryrun)
echo "==> uploading web/dist to $DEST"
# New bundles first: nothing refers to them until the new index.html is up.
if [ -d web/dist/assets ]; then
  aws s3 sync web/dist/assets "$DEST/assets" "${S3_FLAGS[@]}" --cache-control "$IMMUTABLE"
fi
aws s3 sync web/dist "$DEST" "${S3_FLAGS[@]}" --cache-control "$REVALIDATE" \
  --exclude 'assets/*' --exclude index.html --exclude config.json
aws s3 cp "$STAGE/config.json" "$DEST/config.json" "${S3_FLAGS[@]}" \
  --cache-control "$REVALIDATE" --content-type application/json
aws s3 cp web/dist/index.html "$DEST/index.html" "${S3_FLAGS[@]}" \
  --cache-control "$REVALIDATE" --content-type 'text/html; charset=utf-8'
if [ "$PRUNE" = 1 ]; then
  echo "==> deleting files of earlier builds"
  aws s3 sync web/dist "$DEST" "${S3_FLAGS[@]}" --delete --exclude config.json \
    --cache-control "$REVALIDATE" --size-only
fi

# ---- CloudFront -------------------------------------------------------------------------------
# The distribution follows the objects' Cache-Control (revalidated files are held at most its
# minimum TTL of 1 s); the invalidation makes the switch immediate at every edge anyway.
PATHS=(/ /index.html /config.json)
while IFS= read -r file; do
  PATHS+=("/${file#web/dist/}")
done < <(find web/dist -type f ! -path 'web/dist/assets/*' ! -name index.html ! -name config.json)
if [ "$DRY_RUN" = 1 ]; then
  echo "==> would invalidate on $DISTRIBUTION: ${PATHS[*]}"
else
  aws cloudfront create-invalidation --distribution-id "$DISTRIBUTION" --paths "${PATHS[@]}" \
    --query 'Invalidation.Id' --output text >/dev/null
  echo "==> deployed: ${APP_URL:-https://<distribution>/}"
fi

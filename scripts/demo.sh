#!/usr/bin/env bash
# The full local demo: a real Keycloak (fetched once, started with the
# docker protocol) unless one is given, the demo realm, client and user
# created by `registry-stack bootstrap`, and registry-stack in keycloak mode
# in front of it. (configs/keycloak/registry-stack-realm.json is the same
# realm for configs/compose.yaml, which imports it instead.)
#
#   scripts/demo.sh                       # everything local
#   KEYCLOAK_URL=https://kc.example.com KEYCLOAK_ADMIN_USER=admin \
#   KEYCLOAK_ADMIN_PASSWORD=... scripts/demo.sh   # use an existing Keycloak
#
# Environment: LISTEN (default 127.0.0.1:5000), DATA_DIR (default ./data),
# DEMO_USER / DEMO_PASSWORD (default demo / demo-password).
set -euo pipefail
cd "$(dirname "$0")/.."

listen=${LISTEN:-127.0.0.1:5000}
data_dir=${DATA_DIR:-./data}
realm=registry-stack
service=registry-stack
user=${DEMO_USER:-demo}
password=${DEMO_PASSWORD:-demo-password}

mkdir -p "$data_dir"
bin=$data_dir/registry-stack
echo "demo: building registry-stack"
go build -o "$bin" ./cmd/registry-stack

if [ -z "${KEYCLOAK_URL:-}" ]; then
	env_file=$data_dir/keycloak.env
	scripts/keycloak.sh fetch
	scripts/keycloak.sh start --env-file "$env_file"
	trap 'scripts/keycloak.sh stop --env-file "$env_file" || true' EXIT
	set -a
	# shellcheck source=/dev/null
	. "$env_file"
	set +a
fi

# Idempotent: creates only what is missing (realm, docker-v2 client with its
# mapper, the demo user), so it also prepares an existing Keycloak.
"$bin" bootstrap --keycloak-url "$KEYCLOAK_URL" \
	--admin-user "${KEYCLOAK_ADMIN_USER:-admin}" --admin-password "${KEYCLOAK_ADMIN_PASSWORD:-admin}" \
	--realm "$realm" --service "$service" --user "$user" --password "$password" >/dev/null

port=${listen##*:}
cat <<MSG

  registry-stack demo
  -------------------
  UI and registry:  http://localhost:$port
  sign in as:       $user / $password
  docker:           docker login localhost:$port -u $user -p $password
  Keycloak admin:   $KEYCLOAK_URL/admin  (admin / ${KEYCLOAK_ADMIN_PASSWORD:-admin})
  stop:             Ctrl-C

MSG
"$bin" serve --auth keycloak --listen "$listen" --public-url "http://localhost:$port" --data-dir "$data_dir" \
	--keycloak-url "$KEYCLOAK_URL" --keycloak-realm "$realm" --keycloak-service "$service"

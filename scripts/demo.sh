#!/usr/bin/env bash
# The full local demo: a real Keycloak (fetched once) unless one is given,
# the demo layout created by `registry-stack bootstrap --demo`, and
# registry-stack in oidc mode with configs/policy-demo.yaml: registry-stack
# issues the tokens and the policy decides who may do what.
# (configs/keycloak/registry-stack-realm.json is the same layout for
# configs/compose.yaml, which imports it instead.)
#
#   scripts/demo.sh                       # everything local
#   KEYCLOAK_URL=https://kc.example.com KEYCLOAK_ADMIN_USER=admin \
#   KEYCLOAK_ADMIN_PASSWORD=... scripts/demo.sh   # use an existing Keycloak
#
# Environment: LISTEN (default 127.0.0.1:5000), DATA_DIR (default ./data).
set -euo pipefail
cd "$(dirname "$0")/.."

listen=${LISTEN:-127.0.0.1:5000}
data_dir=${DATA_DIR:-./data}
realm=registry-stack

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

# Idempotent: creates only what is missing (realm, OIDC client, groups,
# the registry-admin role, alice, bob, carol and the robot ci-robot).
out=$("$bin" bootstrap --keycloak-url "$KEYCLOAK_URL" \
	--admin-user "${KEYCLOAK_ADMIN_USER:-admin}" --admin-password "${KEYCLOAK_ADMIN_PASSWORD:-admin}" \
	--realm "$realm" --demo)
robot_secret=$(awk '$1 == "robot" && $2 == "ci-robot" && $3 == "secret" { print $4; exit }' <<<"$out")

port=${listen##*:}
host=localhost:$port
cat <<MSG

  registry-stack demo (auth: oidc, policy: configs/policy-demo.yaml)
  ------------------------------------------------------------------
  UI and registry:  http://$host
  alice / alice-password   group /team-a: pull, push, delete team-a/**; push public/**
  bob   / bob-password     group /team-b: pull, push, delete team-b/**
  carol / carol-password   realm role registry-admin: everything
  anyone, no login:        pull public/**
  robot ci-robot / $robot_secret   (service account in /team-a)

  docker login $host -u alice -p alice-password
  docker push $host/team-a/app        # allowed
  docker push $host/team-b/app        # denied: alice is not in /team-b
  $bin policy explain --config configs/policy-demo.yaml --user alice --group /team-a --scope repository:team-b/app:push
  Keycloak admin:   $KEYCLOAK_URL/admin  (admin / ${KEYCLOAK_ADMIN_PASSWORD:-admin})
  stop:             Ctrl-C

MSG
"$bin" serve --config configs/policy-demo.yaml --listen "$listen" --public-url "http://$host" --data-dir "$data_dir" \
	--keycloak-url "$KEYCLOAK_URL" --keycloak-realm "$realm"

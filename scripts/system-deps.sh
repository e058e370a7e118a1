#!/usr/bin/env bash
# System packages the tests need, from Debian's registry: the PostgreSQL 15 server (real database in the
# tests), docker-compose v1 (validates docker-compose.yml without a Docker engine), Chromium and its driver
# (the browser test). Installs what is missing when run as root; otherwise says what to install.
set -euo pipefail

need_apt=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || need_apt+=(postgresql-15)
command -v docker-compose >/dev/null || need_apt+=(docker-compose)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
[ -x /usr/bin/chromedriver ] || need_apt+=(chromium-driver)
[ ${#need_apt[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "missing system packages: ${need_apt[*]}; install them with: sudo apt-get install ${need_apt[*]}" >&2
  exit 1
fi
echo "installing ${need_apt[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null

#!/usr/bin/env bash
# Installs the system packages Sluice builds and tests against, where they are missing:
# libyaml-dev (YAML), libpq-dev (PostgreSQL client), zlib1g-dev (compressed HTTP answers),
# postgresql (throwaway servers in tests and the demo); with --browser also chromium (the tests read the review page as Chromium
# renders it). Debian/Ubuntu only; elsewhere it says what to install and carries on.
set -euo pipefail

missing=()
if [ "${1:-}" = "--browser" ]; then
    command -v chromium >/dev/null 2>&1 || command -v chromium-headless-shell >/dev/null 2>&1 || missing+=(chromium)
fi
pkg-config --exists yaml-0.1 2>/dev/null || missing+=(libyaml-dev)
pkg-config --exists libpq 2>/dev/null || missing+=(libpq-dev)
pkg-config --exists zlib 2>/dev/null || missing+=(zlib1g-dev)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

echo "sluice: installing missing system packages: ${missing[*]}" >&2
if ! command -v apt-get >/dev/null 2>&1; then
    echo "sluice: no apt-get here; install these yourself: ${missing[*]}" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "sluice: run as root or install: ${missing[*]}" >&2; exit 1; }
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"

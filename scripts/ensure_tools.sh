#!/usr/bin/env bash
# Installs what releasemon's tests and demo need when it is missing: Deno (pinned), supervisor,
# redis-server. Sourced by scripts/test.sh, scripts/demo.sh and .ci/run.
DENO_VERSION=2.9.6

ensure_tools() {
  local sudo=""
  if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then sudo="sudo"; fi

  if ! command -v deno >/dev/null 2>&1 || ! deno --version 2>/dev/null | grep -q "^deno ${DENO_VERSION} "; then
    echo "Installing Deno ${DENO_VERSION} with npm..." >&2
    # npm 11 warns that it skipped deno's install script; the package ships the real binary anyway.
    $sudo npm install -g "deno@${DENO_VERSION}" >&2 || { echo "Cannot install Deno with npm" >&2; return 1; }
    hash -r
  fi

  local missing=()
  command -v supervisord >/dev/null 2>&1 || missing+=(supervisor)
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)  # the fleet's TLS test makes a CA
  if [ ${#missing[@]} -gt 0 ]; then
    echo "Installing ${missing[*]} with apt-get..." >&2
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get install -y "${missing[@]}" >&2 \
      || { $sudo apt-get update >&2 && $sudo apt-get install -y "${missing[@]}" >&2; } \
      || { echo "Cannot install ${missing[*]} with apt-get" >&2; return 1; }
    # Debian's packages start their services where an init system runs; tests start their own.
    $sudo service supervisor stop >/dev/null 2>&1 || true
    $sudo service redis-server stop >/dev/null 2>&1 || true
  fi
}

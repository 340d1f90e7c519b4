#!/usr/bin/env bash
# Runs tickdb's whole test suite on a fresh machine: installs the real peers the tests use
# (Prometheus + promtool, Alertmanager, node_exporter, VictoriaMetrics, openssl, Python's aiosmtpd as
# the SMTP server of the email tests, and Docker's engine with a static busybox for the Docker
# actuator's tests) when they are missing, then runs every test of the
# workspace with cargo-nextest (or cargo test if nextest is absent).
#
# Usage: scripts/test.sh [extra args passed to the test runner]
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
command -v prometheus >/dev/null || need_pkgs+=(prometheus)
command -v promtool >/dev/null || need_pkgs+=(prometheus)
command -v prometheus-alertmanager >/dev/null || need_pkgs+=(prometheus-alertmanager)
command -v prometheus-node-exporter >/dev/null || need_pkgs+=(prometheus-node-exporter)
command -v victoria-metrics >/dev/null || need_pkgs+=(victoria-metrics)
command -v python3 >/dev/null || need_pkgs+=(python3 python3-aiosmtpd)
command -v openssl >/dev/null || need_pkgs+=(openssl)  # test keys and certificates (JWT RS256, TLS)
# The Docker actuator's tests start their own dockerd on a private socket (as root; they skip
# otherwise) and build their image from the static busybox; the system's Docker is left alone.
command -v dockerd >/dev/null || need_pkgs+=(docker.io)
command -v docker >/dev/null || need_pkgs+=(docker.io)
if command -v dpkg >/dev/null && ! dpkg -s busybox-static >/dev/null 2>&1; then need_pkgs+=(busybox-static); fi
if [ ${#need_pkgs[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "test.sh: installing missing peers: ${need_pkgs[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi
# aiosmtpd for the python3 on PATH (maybe not Debian's): pip, then pip on an "externally
# managed" Python (PEP 668), then Debian's package; the email tests skip loudly without it.
if ! python3 -c 'import aiosmtpd' 2>/dev/null; then
  echo "test.sh: installing Python's aiosmtpd" >&2
  python3 -m pip install --quiet aiosmtpd 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages aiosmtpd 2>/dev/null \
    || python3 -m pip install --quiet --user --break-system-packages aiosmtpd 2>/dev/null \
    || {
      sudo=""
      [ "$(id -u)" -eq 0 ] || sudo="sudo"
      $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends python3-aiosmtpd >/dev/null
    } \
    || echo "test.sh: could not install aiosmtpd; the email tests will be skipped" >&2
fi
# Debian packages start their services on install; our tests start their own on free ports.
for svc in prometheus prometheus-alertmanager prometheus-node-exporter victoria-metrics; do
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" || true
  fi
done

export PROMQLTEST_DIR="${PROMQLTEST_DIR:-$(cd .. && pwd)/shared/promqltest}"
export RUST_BACKTRACE=1

if cargo nextest --version >/dev/null 2>&1; then
  # nextest does not run doctests: run them first, so the last thing printed is the summary.
  cargo test --workspace --doc -q
  cargo nextest run --workspace --profile ci --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi

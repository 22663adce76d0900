#!/usr/bin/env bash
# Makes WebGPU usable in Node on a machine without a GPU, and installs the ONNX conformance data;
# with --browser (the test command) also Debian's Chromium, for the web page test; with --redis
# (the test command, bench:queue) Debian's redis-server, which the queue tests start on a loopback port.
# Idempotent: when Dawn already finds an adapter and the rest is present it returns at once.
# Why: Dawn rejects bookworm's stock Mesa 22.3 lavapipe; the bookworm-backports build (25.x) works.
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"

have_adapter() { node tools/probe-adapter.mjs >/dev/null 2>&1; }
have_testdata() { [ -d /usr/share/libonnx-testdata/data/node ]; }
want_browser=0; for a in "$@"; do [ "$a" = --browser ] && want_browser=1; done
have_browser() { [ "$want_browser" = 0 ] || [ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; }
want_redis=0; for a in "$@"; do [ "$a" = --redis ] && want_redis=1; done
have_redis() { [ "$want_redis" = 0 ] || command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ]; }

# Dependencies: install when missing or when the lockfile changed since the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi

if have_adapter && have_testdata && have_browser && have_redis; then exit 0; fi

if ! command -v apt-get >/dev/null 2>&1 || [ ! -f /etc/debian_version ]; then
  if ! have_adapter; then
    echo "setup-gpu: no WebGPU adapter found and this is not Debian; install a Vulkan driver (Mesa >= 24 lavapipe works) yourself." >&2
    exit 1
  fi
  have_testdata || echo "setup-gpu: not Debian, so no libonnx-testdata; the conformance tests will be skipped." >&2
  have_browser || echo "setup-gpu: not Debian, so no Chromium installed; set CHROMIUM_PATH or the web page test will be skipped." >&2
  have_redis || echo "setup-gpu: not Debian, so no redis-server installed; put one on PATH or the queue tests will be skipped." >&2
  exit 0
fi
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"

# Reuse the mirror already configured on this machine for bookworm-backports: no host name lives in this repo.
mirror=$(grep -rhoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null | head -n1 | tr -d ' ' || true)
if [ -z "$mirror" ]; then
  mirror=$(grep -rhE '^URIs:' /etc/apt/sources.list.d/ 2>/dev/null | awk '{print $2}' | grep -E '/debian/?$' | head -n1 || true)
fi
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
updated=0
if ! have_adapter; then
  if [ -n "$mirror" ] && ! grep -rqs "${codename}-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    echo "deb ${mirror%/} ${codename}-backports main" | $SUDO tee /etc/apt/sources.list.d/webgpu-xai-backports.list >/dev/null
  fi
  $SUDO apt-get update -qq; updated=1
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "mesa-vulkan-drivers/${codename}-backports" libvulkan1 >/dev/null
fi
if ! have_testdata; then
  [ "$updated" = 1 ] || { $SUDO apt-get update -qq; updated=1; }
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends libonnx-testdata >/dev/null || \
    echo "setup-gpu: libonnx-testdata is not available; the conformance tests will be skipped." >&2
fi
if ! have_browser; then
  [ "$updated" = 1 ] || { $SUDO apt-get update -qq; updated=1; }
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null || \
    echo "setup-gpu: chromium is not available; the web page test will be skipped." >&2
fi
if ! have_redis; then
  [ "$updated" = 1 ] || { $SUDO apt-get update -qq; updated=1; }
  # The package's service is not wanted: the tests start their own server in a temporary folder.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends redis-server >/dev/null || \
    echo "setup-gpu: redis-server is not available; the queue tests will be skipped." >&2
fi
if ! node tools/probe-adapter.mjs; then
  echo "setup-gpu: still no WebGPU adapter after installing lavapipe." >&2
  exit 1
fi

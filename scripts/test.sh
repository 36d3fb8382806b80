#!/usr/bin/env bash
# Runs every test of the workspace on a fresh machine of this kind: installs what the tests
# need (Debian packages for the container engine, the npm client), builds the workspace
# (the plugins' .so files and the action-proxy binary are produced by `cargo build`, not by
# `cargo test`), starts podman's Docker-API service and imports the runtime images for the
# docker-factory tests, runs `cargo test --workspace`, and stops the engine again.
#
#   scripts/test.sh [extra cargo test args]
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

step() { printf '\n== %s (%ss)\n' "$*" "$SECONDS" >&2; }

step "npm client for the end-to-end suite"
if [ ! -d host/tests/e2e/node_modules/openwhisk ]; then
    npm install --no-package-lock --no-audit --no-fund --prefix host/tests/e2e >&2
fi

step "build the workspace (plugins, action-proxy, whisk)"
cargo build --workspace --all-targets >&2

step "container engine and runtime images"
engine_env="$(scripts/engine.sh start)"
eval "$engine_env"
trap 'scripts/engine.sh stop >&2 || true' EXIT
scripts/build-runtime-images.sh >&2

step "cargo test --workspace"
cargo test --workspace "$@"

#!/usr/bin/env bash
# The README's two commands:
#   bash deploy/local/quickstart.sh demo   set up on a fresh machine, run the whole pipeline
#   bash deploy/local/quickstart.sh test   set up, start the local stack, run every test
# Idempotent: a second run reuses the venv, the cached artifacts and a running stack.
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT=$PWD
VENV=${NEWSPIPE_VENV:-$ROOT/.venv}
PY=${PYTHON:-python3}

say() { printf '\n==> %s\n' "$*"; }

need_system_tools() {
  local missing=()
  command -v java >/dev/null || missing+=(openjdk-17-jdk-headless)
  command -v mvn >/dev/null || missing+=(maven)
  command -v runuser >/dev/null || missing+=(util-linux)
  if ((${#missing[@]})); then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
      say "installing system packages: ${missing[*]}"
      apt-get update -qq && apt-get install -y -qq "${missing[@]}"
    else
      echo "error: missing ${missing[*]} (Java 17+ and Maven are needed for the local Kafka and Elasticsearch)" >&2
      exit 2
    fi
  fi
}

setup_python() {
  if [[ ! -x $VENV/bin/python ]]; then
    say "creating virtualenv $VENV"
    "$PY" -m venv "$VENV"
  fi
  # The stamp makes re-runs instant; it changes whenever pyproject.toml does.
  local stamp="$VENV/.newspipe-installed-$(sha256sum pyproject.toml | cut -c1-16)"
  if [[ ! -f $stamp ]]; then
    say "installing Python dependencies (pip cache: ~/.cache/pip)"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -e ".[dev]"
    rm -f "$VENV"/.newspipe-installed-* && touch "$stamp"
  fi
}

# The reliability suite's own stack (faults are injected there, never on the default one).
reliability_stack() {
  "$VENV/bin/pipeline" --state-dir "$HOME/.local/state/newspipe-reliability" \
    --kafka-bootstrap 127.0.0.1:19092 --es-url http://127.0.0.1:19200 "$@"
}

fetch_artifacts() {
  say "fetching Kafka, Elasticsearch and Beam runner artifacts (cached in ~/.m2 and ~/.cache/newspipe)"
  "$VENV/bin/pipeline" stack fetch
}

case "${1:-}" in
  demo)
    need_system_tools; setup_python; fetch_artifacts
    say "running the pipeline on the bundled sample feeds"
    exec "$VENV/bin/pipeline" demo
    ;;
  test)
    need_system_tools; setup_python; fetch_artifacts
    say "lint: ruff + mypy"
    "$VENV/bin/ruff" check pipeline tests
    "$VENV/bin/mypy"
    say "tests: unit + integration (real Kafka + Elasticsearch + Beam)"
    "$VENV/bin/python" -m pytest -p no:cacheprovider tests/unit tests/integration
    say "reliability: faults on a separate local stack (full suite: pytest tests/reliability)"
    # Its stack is stopped whatever the outcome (about 1.5 GB of memory otherwise).
    rc=0
    "$VENV/bin/python" -m pytest -p no:cacheprovider tests/reliability -m "reliability and not slow" || rc=$?
    reliability_stack stack down || true
    exit "$rc"
    ;;
  *)
    echo "usage: $0 demo|test" >&2
    exit 2
    ;;
esac

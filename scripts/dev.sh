#!/usr/bin/env bash
# One entry point for a fresh machine:
#   bash scripts/dev.sh demo   # install into .venv and open the dashboard on its embedded demo
#   bash scripts/dev.sh test   # install what the tests need (Debian packages too, and the Kubernetes
#                              # binaries of scripts/build-kube.sh) and run them
# Any further arguments go to `ksail-tui demo` or to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${KSAIL_TUI_VENV:-.venv}
python=${PYTHON:-python3}

install_python_packages() {
  if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
  fi
  # Reinstall when pyproject.toml changed since the last install, or when the venv's editable install
  # points at another checkout (a venv shared through KSAIL_TUI_VENV would test that checkout's code).
  stamp="$venv/.ksail-tui-installed"
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ "$(cat "$stamp")" != "$PWD" ]; then
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    "$venv/bin/python" -m pip install --quiet -e '.[test]'
    echo "$PWD" >"$stamp"
  fi
}

install_system_packages() {
  # The demo runs the real registry; the tests also skopeo and tmux. Docker is expected to be running.
  local missing=()
  command -v docker-registry >/dev/null || command -v registry >/dev/null || missing+=(docker-registry)
  for tool in "$@"; do
    command -v "$tool" >/dev/null || missing+=("$tool")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing ${missing[*]} with apt-get" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

build_kube() {
  # The needs_kube tier runs real etcd, kube-apiserver and kube-controller-manager; the first build
  # takes minutes, later runs find the binaries cached. CI must have them; elsewhere the tier skips.
  [ "${KSAIL_TUI_SKIP_KUBE_BUILD:-}" = "1" ] && return 0
  if bash scripts/build-kube.sh; then
    return 0
  fi
  case "${CI:-}" in
    1 | true | yes)
      echo "the Kubernetes build failed; CI needs it for the needs_kube tests" >&2
      exit 1
      ;;
  esac
  echo "the Kubernetes build failed: the needs_kube tests will skip" >&2
}

case "${1:-}" in
  demo)
    shift
    install_system_packages
    install_python_packages
    echo "ksail-tui is installed in $venv: run $venv/bin/ksail-tui, or \`source $venv/bin/activate\` first" >&2
    exec "$venv/bin/ksail-tui" demo "$@"
    ;;
  test)
    shift
    install_system_packages skopeo tmux
    build_kube
    install_python_packages
    "$venv/bin/ruff" check .
    "$venv/bin/ruff" format --check .
    "$venv/bin/lint-imports"  # the layers, from [tool.importlinter] in pyproject.toml
    "$venv/bin/mypy"  # over ksail_tui/, from [tool.mypy] in pyproject.toml
    exec "$venv/bin/python" -m pytest "$@"
    ;;
  *)
    echo "usage: bash scripts/dev.sh demo|test [ARGS...]" >&2
    exit 2
    ;;
esac

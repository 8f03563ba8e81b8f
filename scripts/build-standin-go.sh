#!/usr/bin/env bash
# Build the local stand-in for the official Go image, shimimg-local/golang:<go version>, from this
# machine's Go toolchain (see dockerfiles/standin-go/), for the build platform only, offline.
# Skipped when an image built from the same inputs already exists (its label records their hash).
#
# Usage: scripts/build-standin-go.sh [TAG]     (default shimimg-local/golang:<go env GOVERSION>)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GOVERSION=$(go env GOVERSION)
TAG=${1:-shimimg-local/golang:${GOVERSION#go}}
STATE=${SHIMIMG_PROVISION_DIR:-/opt/shimimg}/standin-go
SRC=$ROOT/dockerfiles/standin-go
# shellcheck source=scripts/common.sh
. "$ROOT/scripts/common.sh"
GOROOT_DIR=$(go env GOROOT)
ARCH=$(go env GOARCH)

say() { printf 'provision: %-10s %s\n' golang "$1"; }
die() { printf 'provision: %-10s FAILED: %s\n' golang "$1" >&2; exit 1; }

mkdir -p "$STATE"

# The modules the stand-in serves: the example's and every fixture's (as provision's `modules` step).
mapfile -d '' mods < <(project_gomods "$ROOT")

busybox_version=$(apt-cache policy busybox-static 2>/dev/null | awk '/Candidate:/{print $2}')
hash=$( { cat "$SRC/Dockerfile" "${BASH_SOURCE[0]}"; echo "$GOVERSION $ARCH $busybox_version"; cat "${mods[@]}" ;
          for m in "${mods[@]}"; do cat "$(dirname "$m")/go.sum" 2>/dev/null || true; done; } | sha256sum | cut -c1-16)

got=$(docker image inspect --format '{{index .Config.Labels "io.shimimg.standin.inputs"}}' "$TAG" 2>/dev/null || true)
if [ "$got" = "$hash" ]; then say "$TAG ($hash) already built for linux/$ARCH"; exit 0; fi

ctx=$(mktemp -d); trap 'rm -rf "$ctx"' EXIT
cp "$SRC/Dockerfile" "$ctx/"
r=$ctx/rootfs
mkdir -p "$r/bin" "$r/usr/local" "$r/tmp" "$r/etc" "$r/go" "$r/root" "$r/goproxy"
chmod 1777 "$r/tmp"

bb=$(busybox_static "$busybox_version" "$ARCH" "$STATE") || die "apt-get download busybox-static:$ARCH failed"
cp "$bb" "$r/bin/busybox"
for app in $("$bb" --list); do [ "$app" = busybox ] || ln -sf busybox "$r/bin/$app"; done
echo 'root:x:0:0:root:/root:/bin/sh' >"$r/etc/passwd"
echo 'root:x:0:' >"$r/etc/group"

# The toolchain, without what a build never reads (tests, docs, other platforms' tools).
tar -C "$(dirname "$GOROOT_DIR")" --exclude='go/test' --exclude='go/doc' --exclude='go/api' \
  --exclude='go/misc' -cf - "$(basename "$GOROOT_DIR")" | tar -C "$r/usr/local" -xf -
[ "$(basename "$GOROOT_DIR")" = go ] || mv "$r/usr/local/$(basename "$GOROOT_DIR")" "$r/usr/local/go"

# A module cache of its own, filled from this machine's (then the module proxy, as provisioning
# does); its cache/download folder is a GOPROXY file tree.
modcache=$ctx/modcache
for m in "${mods[@]}"; do
  (cd "$(dirname "$m")" && GOWORK=off GOMODCACHE=$modcache GOFLAGS=-mod=mod \
     GOPROXY="file://$(go env GOMODCACHE)/cache/download,$(go env GOPROXY)" go mod download) \
    >"$STATE/modules.log" 2>&1 || { cat "$STATE/modules.log" >&2; die "go mod download failed in $(dirname "$m")"; }
done
cp -a "$modcache/cache/download/." "$r/goproxy/"
chmod -R u+w "$modcache"

docker buildx build --platform "linux/$ARCH" --provenance=false --load \
  --label "io.shimimg.standin.inputs=$hash" -t "$TAG" "$ctx" >"$STATE/build.log" 2>&1 \
  || { tail -n 30 "$STATE/build.log" >&2; die "docker buildx build of $TAG failed"; }
say "built $TAG ($hash) for linux/$ARCH"

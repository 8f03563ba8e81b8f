# shellcheck shell=bash
# Sourced by the provisioning scripts (provision.sh, build-standin.sh, build-standin-go.sh): what
# more than one of them needs, written once.

# Every go.mod the demo and the tests build, NUL-separated: the example's, then each fixture's in
# sorted order (a stand-in's input hash depends on the order).
project_gomods() { # ROOT
  printf '%s\0' "$1/examples/orders/go.mod"
  find "$1/tests/fixtures" -name go.mod -print0 2>/dev/null | sort -z
}

# Debian's static busybox for ARCH, downloaded once into DIR (apt checks it against the archive's
# signed lists); prints its path, or fails leaving nothing behind.
busybox_static() { # VERSION ARCH DIR
  local bb=$3/busybox-$1-$2 d
  if [ ! -x "$bb" ]; then
    d=$(mktemp -d)
    if ! (cd "$d" && apt-get download -qq "busybox-static:$2" >/dev/null 2>&1) \
       || ! dpkg -x "$d"/busybox-static_*.deb "$d/x" || ! cp "$d/x/bin/busybox" "$bb"; then
      rm -rf "$d"; return 1
    fi
    rm -rf "$d"
  fi
  printf '%s\n' "$bb"
}

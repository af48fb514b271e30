#!/bin/sh
# Installs the Debian packages qora needs, once; quiet when they are all there. With --test,
# also what the suite's cross check uses (spec/cross_check.sh: an aarch64 compiler and qemu, to
# build for ARM and run on x86-64 without AVX); those are optional, so when apt cannot get
# them the suite still runs and that check says it skipped.
set -e
pkgs="gcc make pkg-config lua5.4 liblua5.4-dev libcjson-dev libutf8proc-dev lua-busted luarocks
unzip curl"
check_pkgs="gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo=sudo

# missing PKGS...: those of PKGS not installed.
missing() {
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || printf ' %s' "$p"
  done
}

# install PKGS...: apt-get update once, then the packages, quietly.
updated=""
install() {
  echo "installing Debian packages:$*" >&2
  [ -n "$updated" ] || $sudo apt-get update -qq
  updated=1
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

# shellcheck disable=SC2086
need=$(missing $pkgs)
[ -z "$need" ] || install $need
[ "$1" = "--test" ] || exit 0
# shellcheck disable=SC2086
want=$(missing $check_pkgs)
[ -z "$want" ] || install $want ||
  echo "deps: could not install$want; the cross check will skip" >&2

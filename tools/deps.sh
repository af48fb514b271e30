#!/bin/sh
# Installs the Debian packages qora needs, once; quiet when they are all there.
set -e
pkgs="gcc make pkg-config lua5.4 liblua5.4-dev libcjson-dev libutf8proc-dev lua-busted luarocks
unzip curl"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
sudo=""
[ "$(id -u)" -ne 0 ] && sudo=sudo
echo "installing Debian packages:$missing" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null

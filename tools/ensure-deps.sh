#!/bin/sh
# Makes sure the system packages the build and the tests need are present.
# As root it installs the missing ones with apt-get; otherwise it prints the
# exact command to run and fails, so `make` stops with a clear message.
# Usage: tools/ensure-deps.sh build|test|check
set -eu

need_build="lua5.4 liblua5.4-dev libev-dev pkg-config gcc make"
need_test="$need_build lua-busted"
need_check="$need_test lua-check"

case "${1:-build}" in
  build) wanted=$need_build ;;
  test)  wanted=$need_test ;;
  check) wanted=$need_check ;;
  *) echo "usage: $0 build|test|check" >&2; exit 64 ;;
esac

missing=""
for pkg in $wanted; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed"; then
    missing="$missing $pkg"
  fi
done
[ -z "$missing" ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "missing packages:$missing (no apt-get here: install their equivalents)" >&2
  exit 1
fi
if [ "$(id -u)" != 0 ]; then
  echo "missing packages:$missing" >&2
  echo "run: sudo apt-get update && sudo apt-get install -y$missing" >&2
  exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null

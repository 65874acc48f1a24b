#!/bin/sh
# LAB STAND-IN for OpenResty's nginx binary: Debian's real nginx + Lua module,
# run with this release folder as its prefix. Release {version}{fault_note}.
here=$(cd "$(dirname "$0")" && pwd)
case " $* " in
  *" -v "*|*" -V "*) echo "nginx version: openresty/$(cat "$here/VERSION")" >&2; exit 0 ;;
esac
{stop_guard}exec /usr/sbin/nginx -p "$here/" -c conf/nginx.conf -e logs/error.log -g '{modules}' "$@"

#!/bin/sh
# Lab fault: a nebula build that reaches the lighthouse on the wrong port, so no handshake completes.
here=$(cd "$(dirname "$0")" && pwd)
config=""
prev=""
for arg in "$@"; do [ "$prev" = "-config" ] && config="$arg"; prev="$arg"; done
if [ -n "$config" ]; then
  sed 's/:4242/:4243/g' "$config" > "$here/.config-fault.yaml"
  set -- $(echo "$@" | sed "s|$config|$here/.config-fault.yaml|")
fi
exec {real} "$@"

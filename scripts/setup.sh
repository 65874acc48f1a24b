#!/usr/bin/env bash
# Idempotent set-up of a Debian 12 machine, as root: Debian packages, the
# Python venv, Allure Report 3 from npm, the lab's monitoring images. Each part is skipped when done.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."

DEBS=(
  nginx libnginx-mod-http-lua lua-cjson luajit2   # the lab gateway (nginx + Lua) and the Lua syntax check
  openssh-server openssh-client                   # ssh transport tests against a throwaway sshd
  podman podman-compose runc catatonit            # the lab monitoring stack (run with the lab's own podman config)
  containernetworking-plugins golang-github-containernetworking-plugin-dnsname dnsmasq-base
  docker-registry prometheus prometheus-alertmanager   # local registry; the binaries for the lab images
  nebula runit                                    # the lab overlay and its service supervisor
  busybox-static iproute2 procps coreutils        # lab tooling (static busybox also builds lab images)
  python3 python3-venv nodejs npm                 # the suite and Allure 3
  chromium fonts-ipafont-gothic                   # the record opened as its readers open it (Japanese glyphs)
)

missing=()
for pkg in "${DEBS[@]}"; do
  case "$pkg" in \#*) continue ;; esac
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# node/npm may come from elsewhere than Debian (a newer build); accept them if present.
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  # Never let a package start its service (nginx on :80, sshd on :22): the lab starts its own.
  guard=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && guard=1
  fi
  trap '[ -n "$guard" ] && rm -f /usr/sbin/policy-rc.d' EXIT
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

stamp() { sha256sum "$@" | sha256sum | cut -c1-16; }

# Debian's own Python (installed above), whatever else is first on PATH: it is built with profile-guided and
# link-time optimisation, and a pyenv or source build usually is not. Measured here against a pyenv 3.11.7:
# an Ansible playbook ran on 20 % less CPU, a failing gateway update on 10 % less.
PYTHON=/usr/bin/python3
want="$(stamp pyproject.toml) $($PYTHON -V)"
if [ "$(cat .venv/.setup-stamp 2>/dev/null)" != "$want" ]; then
  echo "setup: building .venv"
  $PYTHON -m venv --clear .venv
  .venv/bin/pip install -q --disable-pip-version-check -e ".[dev]"
  # Bytecode for the whole stack, written once. Where PYTHONDONTWRITEBYTECODE is set (CI machines),
  # Python would otherwise compile pytest, pydantic, httpx... from source on every start-up.
  env -u PYTHONDONTWRITEBYTECODE .venv/bin/python -m compileall -q -j 0 .venv/lib >/dev/null || true
  echo "$want" > .venv/.setup-stamp
fi

# The lab's monitoring images, built once per machine into its cache (/var/cache/flatnet-lab), so that no lab
# start builds them: on a fresh machine the suite's first labs built them side by side, each about 10 s.
want="$(stamp procedures/lab/podman.py procedures/lab/monitoring.py) $(dpkg-query -W -f='${Version} ' \
  prometheus prometheus-alertmanager busybox-static libc6)"
if [ "$(cat /var/cache/flatnet-lab/.setup-stamp 2>/dev/null)" != "$want" ]; then
  echo "setup: the lab's monitoring images (built once per machine, about 10 s; checked when the code changes)"
  .venv/bin/python -m procedures.lab images
  mkdir -p /var/cache/flatnet-lab && echo "$want" > /var/cache/flatnet-lab/.setup-stamp
fi

want=$(stamp package.json package-lock.json)
if [ "$(cat node_modules/.setup-stamp 2>/dev/null)" != "$want" ]; then
  echo "setup: installing Allure Report 3 (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
  echo "$want" > node_modules/.setup-stamp
fi

"""The lab gateway: real nginx + Lua laid out as an OpenResty install.

Each release folder holds a launcher (the LAB STAND-IN for OpenResty's
``nginx.exe``: it runs Debian's nginx with the release folder as prefix and
answers ``-v`` with the release version), the release's own Lua library
and a default ``conf/``. Site configuration (``conf/nginx.conf`` and
``lualib/flatnet``) lives in the live install, as on a real Flatnet host.

Faulty releases model what goes wrong with a real upgrade:

- ``bad-config``: the build lacks the Lua module the site config uses, so ``nginx -t`` fails;
- ``lua-error``: its bundled Lua does not compile; ``nginx -t`` passes, start fails;
- ``unhealthy``: starts, but its health endpoint answers 503;
- ``stuck-stop``: unhealthy, and refuses to stop or quit, so the rollback cannot proceed.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from procedures.lab.templates import render

CURRENT_VERSION = "1.25.3.1"
NEW_VERSION = "1.27.1.2"
FAULTS = ("bad-config", "lua-error", "unhealthy", "stuck-stop")

_MODULES = "/usr/lib/nginx/modules"
_ALL_MODULES = f"load_module {_MODULES}/ndk_http_module.so; load_module {_MODULES}/ngx_http_lua_module.so;"
_NO_LUA = f"load_module {_MODULES}/ndk_http_module.so;"
_STOP_GUARD = """case " $* " in
  *" -s stop "*|*" -s quit "*) echo "nginx: [alert] kill($(cat "$here/../logs/nginx.pid"), 15) failed" \\
                    "(1: Operation not permitted)" >&2; exit 1 ;;
esac
"""


@dataclass(frozen=True)
class Release:
    version: str
    fault: str | None = None

    @property
    def folder_name(self) -> str:
        return f"openresty-{self.version}" + (f"-{self.fault}" if self.fault else "")


def _template(name: str, **values: str) -> str:
    return render("gateway_files", name, **values)


def build_release(dest: Path, release: Release) -> None:
    """Write one release folder (idempotent: an existing folder is rebuilt)."""
    if dest.exists():
        shutil.rmtree(dest)
    for sub in ("conf", "lualib/resty", "logs", "temp"):
        (dest / sub).mkdir(parents=True)
    fault = release.fault
    launcher = dest / "nginx"
    launcher.write_text(_template(
        "launcher.sh",
        version=release.version,
        fault_note=f" (lab fault: {fault})" if fault else "",
        modules=_NO_LUA if fault == "bad-config" else _ALL_MODULES,
        stop_guard=_STOP_GUARD if fault == "stuck-stop" else "",
    ))
    launcher.chmod(0o755)
    (dest / "VERSION").write_text(release.version + "\n")
    (dest / "lualib/resty/release.lua").write_text(_template(
        "release.lua",
        status="degraded" if fault in ("unhealthy", "stuck-stop") else "ok",
        syntax_error="\nlocal broken = = 1\n" if fault == "lua-error" else "",
    ))
    shutil.copy("/etc/nginx/mime.types", dest / "conf/mime.types")


def write_site_config(install: Path, *, root: Path, http_port: int, api_port: int) -> None:
    """The site's own configuration, as Flatnet deploys it into the live install."""
    (install / "conf/nginx.conf").write_text(
        _template("nginx.conf", root=str(root), http_port=str(http_port), api_port=str(api_port))
    )
    (install / "lualib/flatnet").mkdir(parents=True, exist_ok=True)
    (install / "lualib/flatnet/health.lua").write_text(_template("health.lua"))

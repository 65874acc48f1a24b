"""LAB STAND-IN for a Windows host's WinRM service (WS-Man over HTTP, basic or NTLM auth).

Unmodified pywinrm talks to it. It implements the shell protocol pywinrm uses
(Create, Command, Receive, Signal, Delete), decodes the PowerShell script out
of ``-EncodedCommand``, records every call, and answers from rules the tests
set: regex on the script → stdout, stderr, exit code, or a hang. With NTLM it
checks the password for real (pyspnego's acceptor) and seals every message
as MS-WSMV requires over http. What it
cannot show is what Windows would do with the script: that is the real-Windows
smoke test's job.
"""

from __future__ import annotations

import base64
import hmac
import os
import re
import struct
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import spnego
import spnego.exceptions

from procedures.lab.http_standin import StandInHandler, serve_in_background, stop_serving

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
}
_SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
_OPERATION_TIMEOUT = "2150858793"
_BOUNDARY = b"--Encrypted Boundary"
_OCTETS = b"\tContent-Type: application/octet-stream\r\n"


@dataclass
class Reply:
    stdout: str = ""
    stderr: str = ""
    rc: int = 0
    hang: bool = False


@dataclass
class Call:
    script: str
    codepage: str
    command_line: str
    signalled: bool = False
    deleted: bool = False


@dataclass
class WsmanStandIn:
    """Start with ``start()``; set ``rules`` (regex → Reply); read ``calls`` and ``open_shells``."""

    user: str
    password: str
    auth: str = "basic"  # or "ntlm"
    rules: list[tuple[str, Reply]] = field(default_factory=list)
    responder: Callable[[str], Reply | None] | None = None  # a stateful world, tried before the rules
    calls: list[Call] = field(default_factory=list)
    open_shells: set[str] = field(default_factory=set)
    commands: dict[str, tuple[Call, Reply]] = field(default_factory=dict)
    port: int = 0
    _server: ThreadingHTTPServer | None = None

    def start(self) -> WsmanStandIn:
        stand_in = self
        if self.auth == "ntlm":  # pyspnego's acceptor reads its users from this file
            users = Path(tempfile.mkdtemp(prefix="wsman-")) / "ntlm-users"
            users.write_text(f"FLATNET:{self.user}:{self.password}\n")
            os.environ["NTLM_USER_FILE"] = str(users)

        class Handler(_Handler):
            owner = stand_in

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        serve_in_background(self._server)
        return self

    def stop(self) -> None:
        if self._server:
            stop_serving(self._server)

    def answer(self, script: str) -> Reply:
        if self.responder is not None and (reply := self.responder(script)) is not None:
            return reply
        for pattern, reply in self.rules:
            if re.search(pattern, script, re.S):
                return reply
        return Reply(stderr=f"stand-in: no rule matches this script:\n{script}", rc=99)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class _Handler(StandInHandler):
    owner: WsmanStandIn
    protocol_version = "HTTP/1.1"

    ntlm: Any = None  # this connection's NTLM context (NTLM authenticates a connection, not a request)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.owner.auth == "ntlm":
            self._ntlm_request(body)
            return
        given = self.headers.get("Authorization", "")
        pair = f"{self.owner.user}:{self.owner.password}"
        accepted = ["Basic " + base64.b64encode(pair.encode(enc, "replace")).decode() for enc in ("utf-8", "latin-1")]
        if not any(hmac.compare_digest(given, expected) for expected in accepted):
            self._send(401, b"", {"WWW-Authenticate": 'Basic realm="WSMAN"'})
            return
        self._dispatch(body)

    def _dispatch(self, body: bytes) -> None:
        root = ET.fromstring(body)
        action = root.findtext("s:Header/a:Action", namespaces=NS) or ""
        message_id = root.findtext("s:Header/a:MessageID", namespaces=NS) or ""
        shell_id = root.findtext("s:Header/w:SelectorSet/w:Selector", namespaces=NS) or ""
        kind = action.rsplit("/", 1)[-1]
        handler = getattr(self, f"_{kind.lower()}", None)
        if handler is None:
            self._fault(message_id, "a:ActionNotSupported", "0")
            return
        handler(root, message_id, shell_id)

    # -- NTLM ---------------------------------------------------------------------------
    def _ntlm_request(self, body: bytes) -> None:
        header = self.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme in ("Negotiate", "NTLM") and token:
            if self.ntlm is None or self.ntlm.complete:
                self.ntlm = spnego.server(protocol="ntlm")
            try:
                answer = self.ntlm.step(base64.b64decode(token))
            except spnego.exceptions.SpnegoError:
                self.ntlm = None
                self._send(401, b"", {"WWW-Authenticate": "Negotiate"}, sealed=False)
                return
            if not self.ntlm.complete:
                self._send(401, b"", {"WWW-Authenticate": f"{scheme} {base64.b64encode(answer).decode()}"},
                           sealed=False)
                return
        if self.ntlm is None or not self.ntlm.complete:
            self._send(401, b"", {"WWW-Authenticate": "Negotiate"}, sealed=False)
            return
        if not body:  # pywinrm's empty request that sets up the security context
            self._send(200, b"", sealed=False)
            return
        self._dispatch(self._unseal(body))

    def _unseal(self, body: bytes) -> bytes:
        parts = [p for p in body.split(_BOUNDARY + b"\r\n") if p]
        payload = parts[1].removesuffix(_BOUNDARY + b"--\r\n").replace(_OCTETS, b"")
        size = struct.unpack("<i", payload[:4])[0]
        return bytes(self.ntlm.unwrap_winrm(payload[4:4 + size], payload[4 + size:]))

    def _seal(self, data: bytes) -> tuple[bytes, str]:
        wrapped = self.ntlm.wrap_winrm(data)
        stream = struct.pack("<i", len(wrapped.header)) + wrapped.header + wrapped.data
        body = (_BOUNDARY + b"\r\n\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n"
                b"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=" + str(len(data)).encode()
                + b"\r\n" + _BOUNDARY + b"\r\n" + _OCTETS + stream
                + _BOUNDARY + b"--\r\n")
        return body, ('multipart/encrypted;protocol="application/HTTP-SPNEGO-session-encrypted";'
                      'boundary="Encrypted Boundary"')

    # -- actions ----------------------------------------------------------------------
    def _create(self, root: ET.Element, message_id: str, _: str) -> None:
        shell_id = str(uuid.uuid4()).upper()
        self.owner.open_shells.add(shell_id)
        codepage = next((o.text or "" for o in root.iterfind("s:Header/w:OptionSet/w:Option", NS)
                         if o.get("Name") == "WINRS_CODEPAGE"), "")
        self.server.codepage = codepage  # type: ignore[attr-defined]
        self._ok(message_id, f'<x:ResourceCreated xmlns:x="{NS["a"]}"><a:ReferenceParameters><w:SelectorSet>'
                             f'<w:Selector Name="ShellId">{shell_id}</w:Selector></w:SelectorSet>'
                             f"</a:ReferenceParameters></x:ResourceCreated>")

    def _command(self, root: ET.Element, message_id: str, shell_id: str) -> None:
        line = root.findtext("s:Body/rsp:CommandLine/rsp:Command", namespaces=NS) or ""
        encoded = line.rsplit("-EncodedCommand ", 1)[-1].strip()
        script = base64.b64decode(encoded).decode("utf-16-le") if "-EncodedCommand" in line else line
        call = Call(script, getattr(self.server, "codepage", ""), line)
        self.owner.calls.append(call)
        command_id = str(uuid.uuid4()).upper()
        self.owner.commands[command_id] = (call, self.owner.answer(script))
        self._ok(message_id, f"<rsp:CommandResponse><rsp:CommandId>{command_id}</rsp:CommandId></rsp:CommandResponse>")

    def _receive(self, root: ET.Element, message_id: str, _: str) -> None:
        command_id = root.find("s:Body/rsp:Receive/rsp:DesiredStream", NS).get("CommandId", "")  # type: ignore[union-attr]
        reply = self.owner.commands[command_id][1]
        if reply.hang:
            time.sleep(0.5)
            self._fault(message_id, "w:TimedOut", _OPERATION_TIMEOUT)
            return
        streams = "".join(
            f'<rsp:Stream Name="{name}" CommandId="{command_id}">{_b64(text)}</rsp:Stream>'
            for name, text in (("stdout", reply.stdout), ("stderr", reply.stderr)) if text)
        self._ok(message_id, f"<rsp:ReceiveResponse>{streams}<rsp:CommandState CommandId=\"{command_id}\" "
                             f'State="{_SHELL}/CommandState/Done"><rsp:ExitCode>{reply.rc}</rsp:ExitCode>'
                             "</rsp:CommandState></rsp:ReceiveResponse>")

    def _signal(self, root: ET.Element, message_id: str, _: str) -> None:
        command_id = root.find("s:Body/rsp:Signal", NS).get("CommandId", "")  # type: ignore[union-attr]
        self.owner.commands[command_id][0].signalled = True
        self._ok(message_id, "<rsp:SignalResponse/>")

    def _delete(self, root: ET.Element, message_id: str, shell_id: str) -> None:
        self.owner.open_shells.discard(shell_id)
        for call, _reply in self.owner.commands.values():
            if call.signalled:
                call.deleted = True
        self._ok(message_id, "")

    # -- envelopes ----------------------------------------------------------------------
    def _ok(self, message_id: str, body: str) -> None:
        self._send(200, self._envelope(message_id, body).encode())

    def _fault(self, message_id: str, subcode: str, code: str) -> None:
        body = (f"<s:Fault><s:Code><s:Value>s:Receiver</s:Value><s:Subcode><s:Value>{subcode}</s:Value></s:Subcode>"
                f"</s:Code><s:Reason><s:Text>stand-in fault</s:Text></s:Reason><s:Detail>"
                f'<f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="{code}"/>'
                "</s:Detail></s:Fault>")
        self._send(500, self._envelope(message_id, body).encode())

    @staticmethod
    def _envelope(message_id: str, body: str) -> str:
        return (f'<s:Envelope xmlns:s="{NS["s"]}" xmlns:a="{NS["a"]}" xmlns:w="{NS["w"]}" xmlns:rsp="{NS["rsp"]}">'
                f"<s:Header><a:RelatesTo>{message_id}</a:RelatesTo></s:Header><s:Body>{body}</s:Body></s:Envelope>")

    def _send(self, status: int, data: bytes, headers: dict[str, str] | None = None, sealed: bool = True) -> None:
        content_type = "application/soap+xml;charset=UTF-8"
        if sealed and self.owner.auth == "ntlm":
            data, content_type = self._seal(data)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

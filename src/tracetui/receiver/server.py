"""The OTLP/HTTP trace receiver: `POST /v1/traces` on aiohttp, answered as the OTLP/HTTP spec says.

200 with an ExportTraceServiceResponse in the request's encoding (`partial_success` when some spans
were rejected) once the spans are committed; 400 with a google.rpc.Status for a body that cannot be
decoded; 401 without the bearer token (when one is set); 413 over the size limit; 415 for other
media types or content encodings; 503 when the store cannot be written (the exporter retries).

The server runs on whatever asyncio loop calls start(): the viewer's own (Textual's), or the
headless loop of `tracetui serve --headless`. Decoding and writing run in worker processes
(workers.py); the server only speaks HTTP.
"""

from __future__ import annotations

import errno
import hmac
import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import display, jsonsafe
from ..errors import TraceError
from .decode import JSON, MEDIA_TYPES, PROTOBUF, TooLarge, Undecodable
from .workers import Outcome, StoreFailed, Workers, WorkersFailed

if TYPE_CHECKING:
    from aiohttp import web

PATH = "/v1/traces"
DEFAULT_PORT = 4318
DEFAULT_MAX_BODY = 16 * 1024 * 1024
TOKEN_ENV = "TRACETUI_TOKEN"

# google.rpc.Code values used in Status bodies
_INVALID_ARGUMENT, _UNAUTHENTICATED, _RESOURCE_EXHAUSTED, _UNAVAILABLE = 3, 16, 8, 14


class CannotServe(TraceError):
    """The receiver cannot start: the address is taken, not ours, or the settings are unsafe (exit 2)."""


def loopback(host: str) -> bool:
    """Is `host` a loopback address (127.0.0.0/8, ::1) or `localhost`?"""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: any free port). Raises CannotServe with one clear line."""
    where = f"{host}:{port}"
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise CannotServe(f"{host}: not an address to listen on ({exc.strerror})") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # not REUSEPORT: a taken port must fail
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise CannotServe(
                f"{where}: the port is in use (another receiver or collector?); choose one with --port"
            ) from None
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise CannotServe(f"{where}: not allowed to listen there (ports below 1024 need privileges)") from None
        raise CannotServe(f"{where}: cannot listen ({exc.strerror or exc})") from None
    sock.setblocking(False)
    return sock


def url(sock: socket.socket) -> str:
    """The endpoint an exporter is pointed at (OTEL_EXPORTER_OTLP_ENDPOINT), for the socket's address."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@dataclass(frozen=True)
class Received:
    """One answered request, for the log: where it came from and what was stored and rejected."""

    peer: str
    spans: int
    traces: int
    new_runs: int
    rejected: int


def describe(received: Received) -> str:
    """One log line for a received batch (without the time)."""
    text = f"{received.spans:,} span{'s' if received.spans != 1 else ''} in {received.traces:,} trace"
    text += "s" if received.traces != 1 else ""
    if received.new_runs:
        text += f" ({received.new_runs:,} new)"
    if received.rejected:
        text += f" · {received.rejected:,} rejected"
    return f"{text} · from {display.safe(received.peer, single_line=True)}"


class Receiver:
    """The aiohttp application and its site on a listening socket."""

    def __init__(
        self,
        workers: Workers,
        sock: socket.socket,
        *,
        token: str | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        on_request: Callable[[Received], None] | None = None,
    ) -> None:
        self.workers = workers
        self.sock = sock
        self.token = token
        self.max_body = max_body
        self.on_request = on_request
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return url(self.sock)

    async def start(self) -> None:
        """Serve on the running loop (the caller's: Textual's, or the headless one)."""
        from aiohttp import web

        app = web.Application(client_max_size=self.max_body)
        app.router.add_post(PATH, self._traces)
        # auto_decompress off: gzip is inflated by gunzip(), which stops at the size limit (a small
        # body that inflates to gigabytes is answered 413, not read into memory).
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, auto_decompress=False, shutdown_timeout=5.0
        )
        await self._runner.setup()
        await web.SockSite(self._runner, self.sock).start()

    async def stop(self) -> None:
        """Stop listening and let requests in flight finish (their spans are committed), then close."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- one request --------------------------------------------------------------------------------
    async def _traces(self, request: web.Request) -> web.StreamResponse:
        if self.token is not None and not self._authorized(request):
            response = _status(401, _UNAUTHENTICATED, "missing or wrong bearer token", JSON)
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
        media_type = request.content_type
        if media_type not in MEDIA_TYPES:
            return _status(
                415,
                _INVALID_ARGUMENT,
                f"unsupported media type {jsonsafe.quoted(media_type)}; send {PROTOBUF} or {JSON}",
            )
        encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("identity", "gzip", ""):
            return _status(
                415, _INVALID_ARGUMENT, f"unsupported content encoding {jsonsafe.quoted(encoding)}; send gzip or none"
            )
        too_large = f"the body is over the limit of {self.max_body:,} bytes (--max-body)"
        if request.content_length is not None and request.content_length > self.max_body:
            return _status(413, _RESOURCE_EXHAUSTED, too_large, media_type)
        body = await _read(request, self.max_body)
        if body is None:
            return _status(413, _RESOURCE_EXHAUSTED, too_large, media_type)
        try:
            stored = await self.workers.store(body, encoding, media_type, self.max_body)
        except TooLarge as exc:
            return _status(413, _RESOURCE_EXHAUSTED, str(exc), media_type)
        except Undecodable as exc:
            return _status(400, _INVALID_ARGUMENT, str(exc), media_type)
        except WorkersFailed as exc:
            response = _status(503, _UNAVAILABLE, str(exc), media_type)
            response.headers["Retry-After"] = "1"
            return response
        except StoreFailed as exc:  # the store cannot be written (disk full, locked): the exporter retries
            response = _status(503, _UNAVAILABLE, str(exc), media_type)
            response.headers["Retry-After"] = "5"
            return response
        if self.on_request is not None:
            self.on_request(
                Received(request.remote or "?", stored.spans, stored.traces, stored.new_runs, stored.rejected)
            )
        return _export_response(stored, media_type)

    def _authorized(self, request: web.Request) -> bool:
        given = request.headers.get("Authorization", "")
        scheme, _, credentials = given.partition(" ")
        assert self.token is not None
        return scheme.lower() == "bearer" and hmac.compare_digest(credentials.strip().encode(), self.token.encode())


async def _read(request: web.Request, limit: int) -> bytes | None:
    """The body, or None once it is over `limit` bytes (the rest is left for aiohttp to discard)."""
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _export_response(stored: Outcome, media_type: str) -> web.Response:
    from aiohttp import web
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

    answer = ExportTraceServiceResponse()
    if stored.rejected:
        answer.partial_success.rejected_spans = stored.rejected
        answer.partial_success.error_message = "; ".join(stored.problems)
    return web.Response(status=200, body=_encode(answer, media_type), content_type=media_type)


def _status(http: int, code: int, message: str, media_type: str = JSON) -> web.Response:
    from aiohttp import web
    from google.rpc.status_pb2 import Status

    return web.Response(
        status=http, body=_encode(Status(code=code, message=message), media_type), content_type=media_type
    )


def _encode(message, media_type: str) -> bytes:
    if media_type == JSON:
        from google.protobuf.json_format import MessageToJson

        return MessageToJson(message, indent=None).encode()
    return message.SerializeToString()

"""`tracetui serve` put together: the receiver, the workers and the store, started and stopped as one.

The same Service runs headless (run_headless: a log line per received batch until SIGINT/SIGTERM)
and inside the viewer, on Textual's own loop, where it is the viewer's live source (live.py).
"""

from __future__ import annotations

import asyncio
import gc
import signal
import socket
import sys
import time
from collections.abc import Callable

from .. import display, parallel
from ..live import Change
from .server import Received, Receiver, describe
from .span_store import Commit, SpanStore
from .workers import Workers


class Service:
    """Receives spans on `sock` into `store` from start() until stop()."""

    def __init__(
        self,
        store: SpanStore,
        sock: socket.socket,
        *,
        token: str | None,
        max_body: int,
        on_request: Callable[[Received], None] | None = None,
    ) -> None:
        self.store = store
        self.sock = sock
        self.token = token
        self.max_body = max_body
        self.on_request = on_request
        # Now, while sys.stderr is the real one: the viewer captures it, and the workers' helper
        # process (multiprocessing's resource tracker) must not inherit the capture.
        parallel.start_helpers()
        self.workers = Workers(store.path, estimate=store.estimate, on_commit=self._committed)
        self._receiver: Receiver | None = None
        self._changed: Callable[[Change], None] | None = None

    @property
    def url(self) -> str:
        from .server import url

        return url(self.sock)

    @property
    def description(self) -> str:
        return f"receiving OTLP/HTTP on {self.url}"

    async def start(self, changed: Callable[[Change], None] | None = None) -> None:
        """Listen on the running loop; `changed` is called (on the loop) after every commit."""
        self._changed = changed
        self.workers.start()
        self._receiver = Receiver(
            self.workers,
            self.sock,
            token=self.token,
            max_body=self.max_body,
            on_request=self.on_request,
        )
        await self._receiver.start()

    def _committed(self, commit: Commit) -> None:
        self.store.checkpointer.committed()
        if self._changed is not None:
            self._changed(Change(runs=commit.traces, new_runs=commit.new_runs))

    async def stop(self) -> None:
        """Stop listening, let requests in flight be committed and answered, then close the store."""
        if self._receiver is not None:
            await self._receiver.stop()
            self._receiver = None
        await asyncio.get_running_loop().run_in_executor(None, self.workers.close)
        await asyncio.get_running_loop().run_in_executor(None, self.store.close)
        self.sock.close()


def run_headless(service: Service, echo: Callable[[str], None]) -> None:
    """Serve until SIGINT or SIGTERM, one log line per received batch; then flush and return."""

    def logged(received: Received) -> None:
        echo(f"{time.strftime('%H:%M:%S')}  {describe(received)}")

    service.on_request = logged
    asyncio.run(_serve(service, echo))


async def _serve(service: Service, echo: Callable[[str], None]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await service.start()
    # What is loaded now lives as long as the server: out of the garbage collector's way, which
    # would otherwise walk it again each time the rows of received spans fill a generation.
    gc.freeze()
    echo(f"tracetui: {service.description} (POST /v1/traces)")
    echo(f"tracetui: store: {display.safe(service.store.path, single_line=True)}")
    echo("tracetui: stop with Ctrl+C")
    try:
        await stop.wait()
    finally:
        await service.stop()
        count = _runs(service.store.path)
        path = display.safe(service.store.path, single_line=True)
        echo(f"tracetui: stopped; {count:,} run{'s' if count != 1 else ''} in {path}")
        sys.stdout.flush()


def _runs(path: str) -> int:
    from ..store import connect_readonly

    conn = connect_readonly(path)
    try:
        return conn.execute("SELECT count(*) FROM runs").fetchone()[0]
    finally:
        conn.close()

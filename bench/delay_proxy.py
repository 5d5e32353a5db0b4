"""A TCP proxy that makes a server slow to answer: a distant PostgreSQL for the benchmarks.

Every chunk the server sends is forwarded to the client ``delay`` seconds after it arrived, in
order; chunks wait side by side, not one behind another, so this adds latency, not a bandwidth
limit. What the client sends goes through at once. A round trip of the PostgreSQL protocol (a
query and its answer, a connection's start-up) therefore takes ``delay`` longer.

An asyncio loop in a thread of the caller's process; a context manager that closes the listener
and every connection on every way out, a failed start included.
"""

import asyncio
import socket
import threading
import time

CHUNK = 64 * 1024
START_TIMEOUT = 60.0


class DelayProxy:
    """Listens on 127.0.0.1:``port`` (the system chooses it); forwards to ``host``:``upstream``."""

    def __init__(self, host: str, upstream: int, delay: float):
        self.host, self.upstream, self.delay = host, upstream, delay
        self.port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="delay-proxy", daemon=True)

    def __enter__(self) -> "DelayProxy":
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT) or self._error:
            self.stop()
            raise RuntimeError(f"the delay proxy did not start: {self._error!r}")
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def cpu_seconds(self) -> float:
        """CPU time the proxy's thread has used so far (it shares the machine's cores)."""
        return time.clock_gettime(time.pthread_getcpuclockid(self._thread.ident))

    def stop(self) -> None:
        if self._loop and self._stopping:
            try:
                self._loop.call_soon_threadsafe(self._stopping.set)
            except RuntimeError:  # the loop has ended already
                pass
        if self._thread.is_alive():
            self._thread.join(START_TIMEOUT)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as error:  # reported by __enter__ when it happens at the start
            self._error = error
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        handlers: set[asyncio.Task] = set()

        def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.create_task(self._connection(reader, writer))
            handlers.add(task)
            task.add_done_callback(handlers.discard)

        server = await asyncio.start_server(accept, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            server.close()
            for task in list(handlers):
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)

    async def _connection(self, client_in, client_out) -> None:
        upstream_out = None
        try:
            upstream_in, upstream_out = await asyncio.open_connection(self.host, self.upstream)
            for writer in (client_out, upstream_out):
                writer.get_extra_info("socket").setsockopt(
                    socket.IPPROTO_TCP, socket.TCP_NODELAY, 1
                )
            # Either side's end (or an error) ends the connection; the other direction is then
            # cancelled and both sockets closed.
            directions = [
                asyncio.create_task(self._forward(client_in, upstream_out)),
                asyncio.create_task(self._forward_late(upstream_in, client_out)),
            ]
            try:
                await asyncio.wait(directions, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in directions:
                    task.cancel()
                await asyncio.gather(*directions, return_exceptions=True)
        except OSError:  # the upstream refused, or a peer reset: the client sees its end
            pass
        finally:
            for writer in (client_out, upstream_out):
                if writer is not None:
                    writer.close()

    async def _forward(self, source, sink) -> None:
        while data := await source.read(CHUNK):
            sink.write(data)
            await sink.drain()

    async def _forward_late(self, source, sink) -> None:
        """Forward each chunk ``delay`` after its arrival, reading on meanwhile."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()

        async def send() -> None:
            while (item := await queue.get()) is not None:
                due, data = item
                await asyncio.sleep(due - loop.time())  # at once when already due
                sink.write(data)
                await sink.drain()

        sender = asyncio.create_task(send())
        try:
            while data := await source.read(CHUNK):
                queue.put_nowait((loop.time() + self.delay, data))
            queue.put_nowait(None)  # the server's end, passed on after the chunks before it
            await sender
        finally:
            sender.cancel()

"""A loopback TCP proxy in front of a registry, for tests that make the registry misbehave:
subclasses decide what each connection's two directions do (``connected``)."""

from __future__ import annotations

import contextlib
import socket
import threading


class LoopbackProxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(64)
        self.port = self.server.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.closed = False
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self.closed:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self.sockets += [client, upstream]
            self.connected(client, upstream)

    def connected(self, client: socket.socket, upstream: socket.socket) -> None:
        """Start what carries this connection's bytes (threads); the default passes all through."""
        threading.Thread(target=self.pipe, args=(client, upstream), daemon=True).start()
        threading.Thread(target=self.pipe, args=(upstream, client), daemon=True).start()

    @staticmethod
    def pipe(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while True:
                data = src.recv(65536)
                if not data:
                    return
                dst.sendall(data)

    def close(self) -> None:
        self.closed = True
        for s in (self.server, *self.sockets):
            with contextlib.suppress(OSError):
                s.close()

"""A loopback proxy in front of a registry that lies about tags: once a manifest has been PUT under
a tag, every later GET/HEAD of that tag is answered with the manifest of another tag (``evil``), as a
compromised registry, or another party moving the tag between push and resolve, would."""

from __future__ import annotations

import contextlib
import re
import socket
import threading

_LINE = re.compile(rb"^(?P<method>GET|HEAD|PUT) /v2/(?P<name>[^ ]+)/manifests/(?P<ref>[^ /]+) HTTP/1\.[01]\r\n")


class TagSwap:
    def __init__(self, target_port: int, evil: str) -> None:
        self.target_port = target_port
        self.evil = evil.encode()
        self.pushed: set[bytes] = set()  # tags a manifest was PUT under
        self.swapped = 0  # answers that named the evil manifest instead
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
            threading.Thread(target=self._up, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()

    def _up(self, src: socket.socket, dst: socket.socket) -> None:
        # A client sends its next request only after the answer to the last: each request line
        # starts a recv (good enough for docker's and buildx's clients).
        with contextlib.suppress(OSError):
            while True:
                data = src.recv(65536)
                if not data:
                    return
                m = _LINE.match(data)
                if m and not m["ref"].startswith(b"sha256:"):
                    if m["method"] == b"PUT":
                        self.pushed.add(m["ref"])
                    elif m["ref"] in self.pushed:
                        self.swapped += 1
                        data = data.replace(b"/manifests/" + m["ref"] + b" ", b"/manifests/" + self.evil + b" ", 1)
                dst.sendall(data)

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
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

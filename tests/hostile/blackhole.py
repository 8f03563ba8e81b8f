"""A loopback proxy in front of a registry that lets everything through until a blob upload's
data arrives, then takes the bytes and never answers: a registry that "accepts the upload and
never answers"."""

from __future__ import annotations

import contextlib
import socket
import threading

_UPLOAD = (b"PATCH /v2/", b"PUT /v2/")


class BlackHole:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(64)
        self.port = self.server.getsockname()[1]
        self.swallowed = 0  # upload requests that never got an answer
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
            state = {"hole": False}
            threading.Thread(target=self._up, args=(client, upstream, state), daemon=True).start()
            threading.Thread(target=self._down, args=(upstream, client, state), daemon=True).start()

    def _up(self, src: socket.socket, dst: socket.socket, state: dict) -> None:
        with contextlib.suppress(OSError):
            while True:
                data = src.recv(65536)
                if not data:
                    return
                if not state["hole"] and data.startswith(_UPLOAD) and b"/blobs/uploads/" in data.split(b"\r\n", 1)[0]:
                    # From here on this connection swallows everything and answers nothing.
                    state["hole"] = True
                    self.swallowed += 1
                if state["hole"]:
                    continue
                dst.sendall(data)

    def _down(self, src: socket.socket, dst: socket.socket, state: dict) -> None:
        with contextlib.suppress(OSError):
            while True:
                data = src.recv(65536)
                if not data:
                    return
                if not state["hole"]:
                    dst.sendall(data)

    def close(self) -> None:
        self.closed = True
        for s in (self.server, *self.sockets):
            with contextlib.suppress(OSError):
                s.close()

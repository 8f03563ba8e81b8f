"""A loopback proxy in front of a registry that lets everything through until a blob upload's
data arrives, then takes the bytes and never answers: a registry that "accepts the upload and
never answers"."""

from __future__ import annotations

import contextlib
import socket
import threading

from proxy import LoopbackProxy

_UPLOAD = (b"PATCH /v2/", b"PUT /v2/")


class BlackHole(LoopbackProxy):
    def __init__(self, target_port: int) -> None:
        self.swallowed = 0  # upload requests that never got an answer
        super().__init__(target_port)

    def connected(self, client: socket.socket, upstream: socket.socket) -> None:
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

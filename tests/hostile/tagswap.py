"""A loopback proxy in front of a registry that lies about tags: once a manifest has been PUT under
a tag, every later GET/HEAD of that tag is answered with the manifest of another tag (``evil``), as a
compromised registry, or another party moving the tag between push and resolve, would."""

from __future__ import annotations

import contextlib
import re
import socket
import threading

from proxy import LoopbackProxy

_LINE = re.compile(rb"^(?P<method>GET|HEAD|PUT) /v2/(?P<name>[^ ]+)/manifests/(?P<ref>[^ /]+) HTTP/1\.[01]\r\n")


class TagSwap(LoopbackProxy):
    def __init__(self, target_port: int, evil: str) -> None:
        self.evil = evil.encode()
        self.pushed: set[bytes] = set()  # tags a manifest was PUT under
        self.swapped = 0  # answers that named the evil manifest instead
        super().__init__(target_port)

    def connected(self, client: socket.socket, upstream: socket.socket) -> None:
        threading.Thread(target=self._up, args=(client, upstream), daemon=True).start()
        threading.Thread(target=self.pipe, args=(upstream, client), daemon=True).start()

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

"""Checks on prebuilt handler binaries: an ELF for the target arch, executable, static.

Reads only the ELF header and program headers (no outside tool): a wrong-arch binary fails
at init in Lambda with an opaque "exec format error", a dynamic one when the base's glibc
(2.26 on provided:al2) is older than the one it was linked against.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from shimimg.errors import ShimimgError

_MACHINES = {0x3E: "x86_64", 0xB7: "arm64", 0x03: "x86 (32-bit)", 0x28: "arm (32-bit)"}
_PT_INTERP = 3


@dataclass(frozen=True)
class ElfInfo:
    arch: str  # "arm64", "x86_64", or a description of anything else
    static: bool  # no program interpreter (PT_INTERP): runs without the image's libc


def inspect(data: bytes) -> ElfInfo | None:
    """ELF facts from the first bytes of a file (the header and program headers), or None."""
    if len(data) < 64 or data[:4] != b"\x7fELF":
        return None
    is64 = data[4] == 2
    endian = "<" if data[5] == 1 else ">"
    (machine,) = struct.unpack_from(endian + "H", data, 18)
    arch = _MACHINES.get(machine, f"machine 0x{machine:x}")
    if is64:
        (phoff,) = struct.unpack_from(endian + "Q", data, 32)
        phentsize, phnum = struct.unpack_from(endian + "HH", data, 54)
    else:
        (phoff,) = struct.unpack_from(endian + "I", data, 28)
        phentsize, phnum = struct.unpack_from(endian + "HH", data, 42)
    static = True
    for i in range(phnum):
        off = phoff + i * phentsize
        if off + 4 > len(data):
            break
        (ptype,) = struct.unpack_from(endian + "I", data, off)
        if ptype == _PT_INTERP:
            static = False
    return ElfInfo(arch=arch, static=static)


# The program headers of a Go binary sit right after the 64-byte header; 64 KiB is plenty.
HEADER_BYTES = 65536


def check_handler_binary(data: bytes, *, executable: bool, where: str, arch: str, allow_dynamic: bool,
                         prebuilt_flag: bool = False) -> ElfInfo:
    """Raise ShimimgError naming ``where`` unless the binary can run as a handler on ``arch``.
    ``prebuilt_flag``: --prebuilt was given, so building from source is the other way out."""
    info = inspect(data)
    from_source = ", or let shimimg build from source (omit --prebuilt)" if prebuilt_flag else ""
    if info is None:
        raise ShimimgError(
            f"{where} is not an ELF executable",
            hint=f"a Go handler must be built with GOOS=linux; rebuild it{from_source}",
        )
    if info.arch != arch:
        raise ShimimgError(
            f"{where} is built for {info.arch}, but the image is for {arch}",
            hint=f"rebuild it with GOARCH={'arm64' if arch == 'arm64' else 'amd64'}{from_source}, or pass "
            f"--arch {info.arch}",
        )
    if not executable:
        raise ShimimgError(f"{where} is not executable", hint="chmod +x it (in the zip too) and run again")
    if not info.static and not allow_dynamic:
        raise ShimimgError(
            f"{where} is dynamically linked",
            hint="the Lambda base provided:al2 has glibc 2.26 and may not run it: rebuild with CGO_ENABLED=0, "
            "or pass --allow-dynamic if you know its libc needs are met",
        )
    return info

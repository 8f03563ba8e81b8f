"""Hand-made ELF headers for tests: just enough bytes for shimimg.binaries.elf to read."""

from __future__ import annotations

import struct

MACHINE = {"arm64": 0xB7, "x86_64": 0x3E}


def elf_bytes(arch: str = "arm64", *, dynamic: bool = False) -> bytes:
    phnum = 2 if dynamic else 1
    header = bytearray(64)
    header[:4] = b"\x7fELF"
    header[4] = 2  # 64-bit
    header[5] = 1  # little endian
    header[6] = 1
    struct.pack_into("<HHI", header, 16, 2, MACHINE[arch], 1)  # ET_EXEC, machine, version
    struct.pack_into("<Q", header, 32, 64)  # e_phoff
    struct.pack_into("<HH", header, 54, 56, phnum)  # e_phentsize, e_phnum
    phdrs = bytearray(56 * phnum)
    struct.pack_into("<I", phdrs, 0, 1)  # PT_LOAD
    if dynamic:
        struct.pack_into("<I", phdrs, 56, 3)  # PT_INTERP
    return bytes(header + phdrs) + b"\0" * 64

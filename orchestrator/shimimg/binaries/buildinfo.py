"""A Go binary's build information, read from the binary itself (what ``go version -m`` prints).

The Go linker writes a ``.go.buildinfo`` section: a 32-byte header (the magic, the pointer size,
flags), then the Go version and the module information (``path``, ``mod``, ``dep``, ``=>``,
``build`` lines). Go 1.18+ writes both strings inline (flag 0x2); older linkers (Go 1.13-1.17, the
go1.x era) write two pointers to Go string headers, which are resolved through the ELF's loadable
segments. A binary built outside module mode (GOPATH) has the version but no module lines.

Only the ELF headers and the bytes they point at are read, each bounded, so a hostile file cannot
make this read more than a few MiB. Layout: src/debug/buildinfo/buildinfo.go in the Go tree.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

MAGIC = b"\xff Go buildinf:"
_HEADER = 32
_ALIGN = 16
_SEARCH = 64 * 1024  # the header sits at the start of its section; go's reader looks this far
_MAX_STRING = 4 * 1024 * 1024  # module info of a real binary is a few KiB
_SHT_NOBITS = 8
_PT_LOAD = 1
_PF_W = 2


@dataclass(frozen=True)
class Module:
    path: str
    version: str
    replaced_by: Module | None = None

    @property
    def effective(self) -> Module:
        """The module whose code is in the binary (the replacement, when there is one)."""
        return self.replaced_by or self


@dataclass(frozen=True)
class BuildInfo:
    go_version: str  # "go1.17.13"
    main: str = ""  # the main package's import path
    module_mode: bool = False  # a "mod" line: built in module mode, so every dependency's version is here
    deps: tuple[Module, ...] = ()
    settings: tuple[tuple[str, str], ...] = field(default=())  # ("-tags", "lambda.norpc"), ("GOARCH", "arm64")

    @property
    def has_modules(self) -> bool:
        """False for a binary built outside module mode (GOPATH): its dependencies' versions are unknown."""
        return self.module_mode

    def dep(self, path: str) -> Module | None:
        return next((d for d in self.deps if d.path == path), None)

    def setting(self, key: str) -> str | None:
        return next((v for k, v in self.settings if k == key), None)


class _Elf:
    def __init__(self, f, size: int) -> None:
        self.f, self.size = f, size
        ident = self._read(0, 64)
        if len(ident) < 52 or ident[:4] != b"\x7fELF":
            raise ValueError("not an ELF file")
        self.is64 = ident[4] == 2
        self.e = "<" if ident[5] == 1 else ">"
        if self.is64:
            self.phoff, self.shoff = struct.unpack_from(self.e + "QQ", ident, 32)
            self.phentsize, self.phnum, self.shentsize, self.shnum, self.shstrndx = struct.unpack_from(
                self.e + "HHHHH", ident, 54)
        else:
            self.phoff, self.shoff = struct.unpack_from(self.e + "II", ident, 28)
            self.phentsize, self.phnum, self.shentsize, self.shnum, self.shstrndx = struct.unpack_from(
                self.e + "HHHHH", ident, 42)

    def _read(self, off: int, n: int) -> bytes:
        if off < 0 or n < 0 or off >= self.size:
            return b""
        self.f.seek(off)
        return self.f.read(min(n, self.size - off))

    def segments(self) -> list[tuple[int, int, int, int, int]]:
        """(type, flags, file offset, vaddr, file size) of each program header."""
        out = []
        for i in range(min(self.phnum, 4096)):
            raw = self._read(self.phoff + i * self.phentsize, self.phentsize)
            if self.is64 and len(raw) >= 56:
                ptype, flags, off, vaddr, _, filesz = struct.unpack_from(self.e + "IIQQQQ", raw)
            elif not self.is64 and len(raw) >= 32:
                ptype, off, vaddr, _, filesz, _, flags = struct.unpack_from(self.e + "IIIIIII", raw)
            else:
                break
            out.append((ptype, flags, off, vaddr, filesz))
        return out

    def section(self, name: bytes) -> tuple[int, int] | None:
        """(file offset, size) of the section called ``name``, or None."""
        if not self.shoff or not self.shnum or self.shstrndx >= self.shnum:
            return None
        headers = []
        for i in range(min(self.shnum, 65536)):
            raw = self._read(self.shoff + i * self.shentsize, self.shentsize)
            if self.is64 and len(raw) >= 64:
                sh_name, sh_type, _, _, off, size = struct.unpack_from(self.e + "IIQQQQ", raw)
            elif not self.is64 and len(raw) >= 40:
                sh_name, sh_type, _, _, off, size = struct.unpack_from(self.e + "IIIIII", raw)
            else:
                return None
            headers.append((sh_name, sh_type, off, size))
        _, _, str_off, str_size = headers[self.shstrndx]
        names = self._read(str_off, min(str_size, 1 << 20))
        for sh_name, sh_type, off, size in headers:
            if sh_type != _SHT_NOBITS and names[sh_name:sh_name + len(name) + 1] == name + b"\0":
                return off, size
        return None

    def at(self, vaddr: int, n: int) -> bytes:
        """``n`` bytes at virtual address ``vaddr`` (from the loadable segment holding it)."""
        for ptype, _, off, start, filesz in self.segments():
            if ptype == _PT_LOAD and start <= vaddr and vaddr + n <= start + filesz:
                return self._read(off + vaddr - start, n)
        return b""


def _uvarint(data: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while i < len(data) and shift < 64:
        b = data[i]
        value |= (b & 0x7F) << shift
        i += 1
        if b < 0x80:
            return value, i
        shift += 7
    raise ValueError("bad length in build info")


def _header(elf: _Elf) -> bytes | None:
    """The bytes from the build info header on (up to 64 KiB), found as go's own reader finds them."""
    found = elf.section(b".go.buildinfo")
    if found is not None:
        starts = [found[0]]
    else:  # no section headers: the first writable loadable segment
        starts = [off for ptype, flags, off, _, _ in elf.segments() if ptype == _PT_LOAD and flags & _PF_W][:1]
    for start in starts:
        data = elf._read(start, _SEARCH)
        i = 0
        while i + _HEADER <= len(data):
            if data[i:i + len(MAGIC)] == MAGIC:
                return data[i:]
            i += _ALIGN
    return None


def _strings(elf: _Elf, data: bytes) -> tuple[str, str]:
    ptr_size, flags = data[14], data[15]
    if flags & 0x2:  # Go 1.18+: two length-prefixed strings right after the header
        n, i = _uvarint(data, _HEADER)
        m, j = _uvarint(data, i + n)
        if i + n > len(data) or j + m > len(data):  # more than the 64 KiB read: not a real binary's
            raise ValueError("build info larger than expected")
        return data[i:i + n].decode("utf-8", "replace"), data[j:j + m].decode("utf-8", "replace")
    if ptr_size not in (4, 8):
        raise ValueError(f"pointer size {ptr_size}")
    e = ">" if flags & 0x1 else "<"
    fmt = e + ("Q" if ptr_size == 8 else "I")

    def string_at(addr: int) -> str:
        hdr = elf.at(addr, 2 * ptr_size)
        if len(hdr) != 2 * ptr_size:
            return ""
        (data_addr,) = struct.unpack_from(fmt, hdr, 0)
        (length,) = struct.unpack_from(fmt, hdr, ptr_size)
        if length > _MAX_STRING:
            raise ValueError("string in build info too long")
        return elf.at(data_addr, length).decode("utf-8", "replace")

    (vers_addr,) = struct.unpack_from(fmt, data, 16)
    (mod_addr,) = struct.unpack_from(fmt, data, 16 + ptr_size)
    return string_at(vers_addr), string_at(mod_addr)


def _parse_modinfo(text: str) -> tuple[str, bool, tuple[Module, ...], tuple[tuple[str, str], ...]]:
    # The module text is framed by 16-byte sentinels (runtime/debug's modinfo marks).
    if len(text) >= 33 and text[-17] == "\n":
        text = text[16:-16]
    main = ""
    module_mode = False
    deps: list[Module] = []
    settings: list[tuple[str, str]] = []
    for line in text.splitlines():
        parts = line.split("\t")
        if parts[0] == "path" and len(parts) > 1:
            main = parts[1]
        elif parts[0] == "mod":
            module_mode = True
        elif parts[0] == "dep" and len(parts) > 2:
            deps.append(Module(parts[1], parts[2]))
        elif parts[0] == "=>" and len(parts) > 1 and deps:
            last = deps[-1]
            deps[-1] = Module(last.path, last.version, Module(parts[1], parts[2] if len(parts) > 2 else ""))
        elif parts[0] == "build" and len(parts) > 1:
            key, _, value = parts[1].partition("=")
            settings.append((key, value))
    return main, module_mode, tuple(deps), tuple(settings)


def read(path: Path) -> BuildInfo | None:
    """The build info of the Go binary at ``path``; None when it is not a Go ELF binary."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, 2)
            elf = _Elf(f, size)
            data = _header(elf)
            if data is None or len(data) < _HEADER:
                return None
            version, mod = _strings(elf, data)
    except (OSError, ValueError, struct.error, IndexError):
        return None
    if not version.startswith("go") and not version.startswith("devel"):
        return None
    main, module_mode, deps, settings = _parse_modinfo(mod)
    return BuildInfo(go_version=version, main=main, module_mode=module_mode, deps=deps, settings=settings)

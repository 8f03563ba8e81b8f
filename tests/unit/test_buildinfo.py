"""Go build info read from the binary itself: both layouts the Go linker has written, GOPATH-era
binaries, and files that are not Go binaries at all."""

from __future__ import annotations

import struct

import pytest

from shimimg.binaries import buildinfo, lambdalib

VADDR = 0x400000
MODINFO = ("0w\xaf\x0c\x92t\x08\x02A\xe1\xc1\x07\xe6\xd6\x18\xe6"
           "path\texample.com/ledger/cmd/quote\n"
           "mod\texample.com/ledger\t(devel)\t\n"
           "dep\tgithub.com/aws/aws-lambda-go\tv1.17.0\th1:abc=\n"
           "dep\tgithub.com/fork/dep\tv0.1.0\th1:def=\n"
           "=>\tgithub.com/fork/dep2\tv0.2.0\th1:ghi=\n"
           "build\t-tags=lambda.norpc\n"
           "build\tGOARCH=arm64\n"
           "\xf92C1\x82B\x10A\x16\xd8\xf2H\x1e\x15\x00\x00")


def _uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def elf(*, inline: bool, version: str = "go1.16.15", modinfo: str = MODINFO, big_endian: bool = False) -> bytes:
    """A minimal ELF64 with one writable PT_LOAD segment holding a build info blob at 0x1000."""
    e = ">" if big_endian else "<"
    size = 0x3000
    data = bytearray(size)
    ident = b"\x7fELF" + bytes([2, 2 if big_endian else 1, 1]) + bytes(9)
    data[0:64] = ident + struct.pack(e + "HHIQQQIHHHHHH", 2, 0xB7, 1, VADDR, 64, 0, 0, 64, 56, 1, 64, 0, 0)
    data[64:64 + 56] = struct.pack(e + "IIQQQQQQ", 1, 6, 0, VADDR, VADDR, size, size, 0x1000)
    header = bytearray(buildinfo.MAGIC + bytes([8, (0x2 if inline else 0) | (0x1 if big_endian else 0)]))
    header += bytes(32 - len(header))
    vb, mb = version.encode("latin-1"), modinfo.encode("latin-1")
    if inline:
        blob = bytes(header) + _uvarint(len(vb)) + vb + _uvarint(len(mb)) + mb
    else:
        # Two pointers to Go string headers {data pointer, length}.
        struct.pack_into(e + "QQ", header, 16, VADDR + 0x1100, VADDR + 0x1110)
        blob = bytes(header)
        struct.pack_into(e + "QQ", data, 0x1100, VADDR + 0x1200, len(vb))
        struct.pack_into(e + "QQ", data, 0x1110, VADDR + 0x1300, len(mb))
        data[0x1200:0x1200 + len(vb)] = vb
        data[0x1300:0x1300 + len(mb)] = mb
    data[0x1000:0x1000 + len(blob)] = blob
    return bytes(data)


@pytest.mark.parametrize("inline", [True, False], ids=["go1.18+ inline strings", "go1.13-1.17 pointers"])
@pytest.mark.parametrize("big_endian", [False, True])
def test_both_layouts_give_the_version_modules_and_settings(tmp_path, inline, big_endian):
    p = tmp_path / "quote"
    p.write_bytes(elf(inline=inline, big_endian=big_endian))
    info = buildinfo.read(p)
    assert info is not None and info.go_version == "go1.16.15" and info.has_modules
    assert info.main == "example.com/ledger/cmd/quote"
    assert info.dep("github.com/aws/aws-lambda-go") == buildinfo.Module("github.com/aws/aws-lambda-go", "v1.17.0")
    assert info.dep("github.com/fork/dep").effective == buildinfo.Module("github.com/fork/dep2", "v0.2.0")
    assert info.setting("-tags") == "lambda.norpc" and info.setting("GOARCH") == "arm64"


def test_an_old_library_in_a_prebuilt_binary_is_judged_old(tmp_path):
    p = tmp_path / "quote"
    p.write_bytes(elf(inline=False))
    lib = lambdalib.from_binary(p)
    assert (lib.status, lib.version) == ("old", "v1.17.0") and "go1.16.15" in lib.detail


def test_a_gopath_binary_is_judged_by_the_protocol_it_reads(tmp_path):
    gopath = "path\texample.com/legacy/pinger\nbuild\tGOARCH=arm64\n"
    rpc_only = elf(inline=True, modinfo=gopath) + b"\0_LAMBDA_SERVER_PORT\0"
    both = rpc_only + b"AWS_LAMBDA_RUNTIME_API"
    (tmp_path / "old").write_bytes(rpc_only)
    (tmp_path / "new").write_bytes(both)
    (tmp_path / "other").write_bytes(elf(inline=True, modinfo=gopath))
    assert buildinfo.read(tmp_path / "old").has_modules is False
    assert lambdalib.from_binary(tmp_path / "old").status == "old"
    assert lambdalib.from_binary(tmp_path / "new").status == "ok"
    assert lambdalib.from_binary(tmp_path / "other").status == "none"


def test_a_module_binary_without_the_library_is_not_refused(tmp_path):
    modinfo = "path\texample.com/x\nmod\texample.com/x\t(devel)\t\ndep\tgithub.com/other/runtime\tv1.0.0\t\n"
    (tmp_path / "x").write_bytes(elf(inline=True, modinfo=modinfo))
    assert lambdalib.from_binary(tmp_path / "x").status == "none"


@pytest.mark.parametrize("content", [b"", b"#!/bin/sh\nexec x\n", b"\x7fELF" + bytes(60),
                                     b"\x7fELF\x02\x01\x01" + bytes(200)])
def test_files_that_are_not_go_binaries_read_as_none(tmp_path, content):
    p = tmp_path / "f"
    p.write_bytes(content)
    assert buildinfo.read(p) is None
    assert lambdalib.from_binary(p).status == "none"


def test_a_huge_declared_string_is_not_read(tmp_path):
    data = bytearray(elf(inline=False))
    struct.pack_into("<QQ", data, 0x1110, VADDR + 0x1300, 1 << 40)
    p = tmp_path / "f"
    p.write_bytes(bytes(data))
    assert buildinfo.read(p) is None


@pytest.mark.parametrize("version,old", [
    ("v1.17.0", True), ("v1.6.0", True), ("v1.18.0", False), ("v1.55.1", False), ("v2.0.0", False),
    ("v1.18.0-rc.1", True), ("v1.17.1-0.20200601000000-abcdefabcdef", True), ("v1.18.1-0.20200601000000-ab", False),
    ("v1.18.0+incompatible", False),
])
def test_the_floor_is_v1_18_0_by_semantic_version(version, old):
    assert lambdalib.below_floor(version) is old


def test_go_list_answers_per_main_with_replacements():
    lam = {"ImportPath": lambdalib.PACKAGE, "Module": {"Path": lambdalib.MODULE, "Version": "v1.55.1"}}
    entries = [lam, {"ImportPath": "m/a", "Deps": [lambdalib.PACKAGE]}, {"ImportPath": "m/b", "Deps": ["fmt"]}]
    got = lambdalib.from_go_list(entries, ["m/a", "m/b"])
    assert (got["m/a"].status, got["m/a"].version) == ("ok", "v1.55.1") and got["m/b"].status == "none"
    lam["Module"] = {"Path": lambdalib.MODULE, "Version": "v1.55.1",
                     "Replace": {"Path": "github.com/fork/aws-lambda-go", "Version": "v1.10.0"}}
    assert lambdalib.from_go_list(entries, ["m/a"])["m/a"].status == "old"
    lam["Module"]["Replace"] = {"Path": "../aws-lambda-go"}
    assert lambdalib.from_go_list(entries, ["m/a"])["m/a"].status == "unknown"

import pytest
from elfdata import elf_bytes

from shimimg.binaries import elf
from shimimg.errors import ShimimgError


def test_inspect_reads_arch_and_linking():
    assert elf.inspect(elf_bytes("arm64")) == elf.ElfInfo(arch="arm64", static=True)
    assert elf.inspect(elf_bytes("x86_64", dynamic=True)) == elf.ElfInfo(arch="x86_64", static=False)
    assert elf.inspect(b"#!/bin/sh\necho hi\n" + b"\0" * 64) is None
    assert elf.inspect(b"") is None


def test_accepts_a_static_binary_for_the_target_arch():
    info = elf.check_handler_binary(
        elf_bytes("arm64"), executable=True, where="bin/x", arch="arm64", allow_dynamic=False
    )
    assert info.static


@pytest.mark.parametrize(
    "data,executable,allow_dynamic,expect",
    [
        (elf_bytes("x86_64"), True, False, "bin/x is built for x86_64, but the image is for arm64"),
        (elf_bytes("arm64"), False, False, "bin/x is not executable"),
        (elf_bytes("arm64", dynamic=True), True, False, "bin/x is dynamically linked"),
        (b"PK\x03\x04" + b"\0" * 80, True, False, "bin/x is not an ELF executable"),
    ],
)
def test_refuses_with_the_binary_named(data, executable, allow_dynamic, expect):
    with pytest.raises(ShimimgError) as e:
        elf.check_handler_binary(data, executable=executable, where="bin/x", arch="arm64", allow_dynamic=allow_dynamic)
    assert e.value.message == expect
    assert e.value.hint


def test_dynamic_is_accepted_when_allowed():
    info = elf.check_handler_binary(
        elf_bytes("arm64", dynamic=True), executable=True, where="bin/x", arch="arm64", allow_dynamic=True
    )
    assert not info.static


def test_dynamic_refusal_names_the_old_glibc():
    with pytest.raises(ShimimgError) as e:
        elf.check_handler_binary(
            elf_bytes("arm64", dynamic=True), executable=True, where="w", arch="arm64", allow_dynamic=False
        )
    assert "glibc 2.26" in e.value.hint and "--allow-dynamic" in e.value.hint

"""Start-up memory: what the judge's start-up batches freed goes back to the system."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from pathlib import Path

import pytest

from bot.server.heap import release_freed_memory


def _resident_kb() -> int:
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc_trim and /proc are Linux's")
def test_freed_heap_blocks_are_handed_back_to_the_system():
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    blocks = [libc.malloc(4096) for _ in range(60_000)]  # 240 MB of small blocks, below the mmap threshold
    for address in blocks:
        ctypes.memset(address, 1, 4096)
    keep = blocks[-1]
    for address in blocks[:-1]:
        libc.free(address)  # the last block pins the heap's top: glibc keeps the rest
    before = _resident_kb()
    assert release_freed_memory()
    after = _resident_kb()
    libc.free(keep)
    assert before - after > 150_000, (before, after)

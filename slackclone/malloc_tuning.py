"""Give the memory of large buffers back to the OS when they are freed (glibc).

glibc's malloc serves a request of at least M_MMAP_THRESHOLD bytes with its own mmap,
unmapped by free(); smaller ones come from an arena, whose freed memory the process
keeps. The threshold starts at 128 kB and, by default, RISES to the size of every
mmapped block freed (up to 32 MB). Pillow allocates a decoded image in 16 MB blocks, so
after the first image freed, the next ones came from the request threads' arenas and
stayed there: a server process that had made the thumbnails of 12 uploads of a 6300 x
6300 PNG, 6 at a time, kept 416 MB more RSS for good (133 MiB in
tests/slackclone/test_malloc_tuning.py's run). Setting the threshold fixes it (and turns
the dynamic rise off): blocks of 4 MiB and more are always mmapped and unmapped.
Smaller allocations (Python objects, 1 MiB upload chunks) are unchanged.
"""

import ctypes
import ctypes.util
import logging
import sys

logger = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # glibc's <malloc.h>
MMAP_THRESHOLD_BYTES = 4 * 1024 * 1024


def large_blocks_to_the_os() -> bool:
    """Set glibc's M_MMAP_THRESHOLD to 4 MiB; True if set. A no-op elsewhere (macOS,
    musl): never raises. Call once at startup (slackclone.asgi)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
    except (OSError, AttributeError):  # no glibc (musl has no mallopt)
        logger.info("mallopt unavailable: large blocks stay in malloc's arenas")
        return False

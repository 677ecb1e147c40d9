"""Keep the garbage collector's full passes short in a long-running server process.

CPython's full (generation 2) collection walks every tracked container object of the
process. A server process that has imported Django, DRF, Channels and this project
holds about 160,000 of them before it serves its first request (modules, classes,
functions, the URLconf, settings), and walking them took ~100 ms on this project's
2-core machine: every full collection stalled the event loop that long, with every
frame of a fan-out to 500 sockets waiting behind it. Measured with a `gc.callbacks`
timer during `bench/fanout.py` (issue 13, section 3; docs/performance.md): full
collections of 70-180 ms in both processes, which made the p99 of a fan-out to 1,000
sockets 2-4x its p50.

Two changes, both with the standard library's `gc` module:
- `gc.freeze()` (Python's documented tool for this: it moves every object tracked now
  into a permanent generation that collections skip) after the process has loaded
  everything it loads once. Those objects live as long as the process anyway; objects
  created later (sockets, requests, messages) are collected as before.
- A young generation of 10,000 allocations instead of 700. A fan-out allocates
  thousands of short-lived containers (frames, futures, event dicts); with 700, young
  collections ran several times per fan-out and promoted the in-flight ones to the old
  generations, whose growth is what triggers full collections. Each young collection
  now walks at most ~10,000 objects (about 5 ms here), and full collections came ~2.5x
  less often in the same benchmark.

Same run, 1,000 sockets over 2 daphne processes, 100 messages at 2/s, quiet machine:
last-receipt p99 84.5 ms with both, 100.7 ms with the freeze alone, 122-164 ms with
neither (docs/performance.md, session 6).
"""

import gc

YOUNG_GENERATION_THRESHOLD = 10_000  # allocations between two young collections (CPython's default: 700)
OLDER_GENERATIONS_THRESHOLD = 20  # young (then middle) collections between two of the next generation (default 10)


def tune_for_serving() -> int:
    """Load what a server process loads once (the URLconf, and with it every view and
    serializer module), collect the garbage of starting up, freeze what is left out of
    the collector's sight, and set the thresholds above. Returns how many objects were
    frozen. Call once, after `django.setup()`, before serving (slackclone.asgi)."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 (imports every view module now, not on the first request)
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, OLDER_GENERATIONS_THRESHOLD, OLDER_GENERATIONS_THRESHOLD)
    return gc.get_freeze_count()

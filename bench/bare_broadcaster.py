#!/usr/bin/env python
"""The fan-out baseline: a minimal `websockets` server fed by Redis pub/sub.

    .venv/bin/python bench/bare_broadcaster.py --port 9001 [--redis redis://127.0.0.1:56379/0]

Every accepted WebSocket (any path, no auth) joins one in-process set; every message
published on the Redis channel --channel (default slackclone-bench-bare) is sent as a
text frame to every socket, as is (websockets' broadcast: one write per socket, no
per-socket task). It sends a {"type":"hello"} frame on connect so that a client can
treat it like /ws/v1/. bench/fanout.py starts it as a subprocess to measure the same
payload to the same number of sockets without Django, Channels or daphne.
"""

import argparse
import asyncio
import os
import signal


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    default_redis = f"redis://127.0.0.1:{os.environ.get('REDIS_PORT', '56379')}/0"  # as settings.py derives it
    parser.add_argument("--redis", default=os.environ.get("REDIS_URL", default_redis))
    parser.add_argument("--channel", default="slackclone-bench-bare")
    parser.add_argument("--ping-interval", type=float, default=0, help="keepalive pings, seconds (0: off)")
    return parser.parse_args()


async def main() -> None:
    import redis.asyncio as aioredis
    from websockets.asyncio.server import broadcast, serve

    args = parse_args()
    clients = set()

    async def handler(ws):
        clients.add(ws)
        try:
            await ws.send('{"type":"hello"}')
            await ws.wait_closed()
        finally:
            clients.discard(ws)

    redis = aioredis.from_url(args.redis)
    pubsub = redis.pubsub()
    await pubsub.subscribe(args.channel)

    async def pump():
        async for message in pubsub.listen():
            if message["type"] == "message":
                broadcast(clients, message["data"].decode())

    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    ping = args.ping_interval or None
    async with serve(handler, args.host, args.port, ping_interval=ping, max_queue=None, backlog=4096):
        task = asyncio.create_task(pump())
        await stop
        task.cancel()
    await pubsub.aclose()
    await redis.aclose()


if __name__ == "__main__":
    asyncio.run(main())

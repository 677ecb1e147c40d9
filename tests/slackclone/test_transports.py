"""slackclone.transports.CoalescingTransport over real sockets on uvloop (the server's
loop): the writes made inside `coalesced_writes()` are one write of the real transport
per socket, in order, and writes outside it go straight through; flow control stays the
real transport's; a close sends what is pending first; an abort or a refused write drops
it without holding back the other sockets."""

import asyncio
import functools
import gc
import socket
import weakref

import uvloop

from slackclone.transports import CoalescingTransport, coalesced_writes


class _Sink(asyncio.Protocol):
    def connection_made(self, transport) -> None:
        self.transport = transport
        self.paused = False

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False


class _Recording:
    """The real transport, its writes recorded (uvloop's `write` cannot be replaced)."""

    def __init__(self, transport) -> None:
        self.transport = transport
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))
        self.transport.write(data)

    def __getattr__(self, name: str):
        return getattr(self.transport, name)


async def _pair():
    """(coalescing transport over a real socket, the peer socket, the real transport's
    writes as a list the test reads)."""
    ours, theirs = socket.socketpair()
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.connect_accepted_socket(_Sink, ours)
    recording = _Recording(transport)
    recording.protocol = protocol
    wrapper = CoalescingTransport(recording, close=transport.close, loop=loop)
    theirs.setblocking(False)
    return wrapper, theirs, recording.writes


async def _read_all(sock: socket.socket, size: int) -> bytes:
    loop = asyncio.get_running_loop()
    data = b""
    while len(data) < size:
        chunk = await asyncio.wait_for(loop.sock_recv(sock, 65536), 5)
        if not chunk:
            break
        data += chunk
    return data


def on_uvloop(test):
    """Run the coroutine test on uvloop, the server's loop."""

    @functools.wraps(test)
    def run(*args, **kwargs) -> None:
        uvloop.run(test(*args, **kwargs))

    return run


@on_uvloop
async def test_the_writes_of_one_block_go_out_as_one_write_in_order():
    transport, peer, writes = await _pair()
    with coalesced_writes():
        for frame in (b"one;", b"two;", b"three;"):
            transport.write(frame)
        assert writes == []  # nothing written before the block ends
    assert writes == [b"one;two;three;"]
    assert await _read_all(peer, 14) == b"one;two;three;"
    peer.close()
    transport.wrapped.close()


@on_uvloop
async def test_a_write_outside_a_block_goes_straight_through():
    transport, peer, writes = await _pair()
    transport.write(b"ack;")
    assert writes == [b"ack;"]  # at once: no added latency for acks and handshakes
    with coalesced_writes():
        with coalesced_writes():  # nested: the outermost block flushes
            transport.write(b"a;")
        assert writes == [b"ack;"]
        transport.write(b"b;")
    assert writes == [b"ack;", b"a;b;"]
    assert await _read_all(peer, 8) == b"ack;a;b;"
    peer.close()
    transport.wrapped.close()


@on_uvloop
async def test_many_sockets_written_in_one_block_each_get_their_frames():
    pairs = [await _pair() for _ in range(20)]
    with coalesced_writes():
        for i, (transport, _, _) in enumerate(pairs):
            transport.write(f"a{i};".encode())
            transport.write(f"b{i};".encode())
    for i, (transport, peer, writes) in enumerate(pairs):
        expected = f"a{i};b{i};".encode()
        assert writes == [expected]
        assert await _read_all(peer, len(expected)) == expected
        peer.close()
        transport.wrapped.close()


@on_uvloop
async def test_flush_before_close_sends_what_is_pending_then_the_end():
    transport, peer, writes = await _pair()
    with coalesced_writes():
        transport.write(b"last frame;")
        transport.write(b"close frame")
        transport.flush()  # what WebSocketProtocol's close does first
        transport.wrapped.close()
    assert await _read_all(peer, 1 << 20) == b"last frame;close frame"  # then EOF
    assert writes == [b"last frame;close frame"]  # the block's end wrote nothing more
    peer.close()


@on_uvloop
async def test_what_is_pending_at_an_abort_is_dropped_without_an_error():
    transport, peer, writes = await _pair()
    with coalesced_writes():
        transport.write(b"never sent")
        transport.wrapped.abort()
    assert writes == []
    peer.close()


@on_uvloop
async def test_a_refused_write_aborts_its_connection_and_does_not_hold_back_the_others(caplog):
    broken, broken_peer, _ = await _pair()
    transport, peer, writes = await _pair()

    def fails(data: bytes) -> None:
        raise RuntimeError("the handle is closed")

    broken.wrapped.write = fails  # the recording proxy's write
    with coalesced_writes():
        broken.write(b"lost")
        transport.write(b"delivered")
    assert writes == [b"delivered"]
    assert await _read_all(peer, 9) == b"delivered"
    assert "a coalesced write failed" in caplog.text
    assert broken.wrapped.is_closing()  # aborted: never open with a frame missing
    assert await _read_all(broken_peer, 1) == b""  # the client sees the connection end
    with coalesced_writes():
        transport.write(b" and later")
    assert writes == [b"delivered", b" and later"]
    for sock in (peer, broken_peer):
        sock.close()
    transport.wrapped.close()


@on_uvloop
async def test_a_client_that_reads_nothing_pauses_the_writer_within_the_block():
    """Flow control stays the real transport's: 64 KiB pending are written at once, so
    uvloop calls pause_writing during the block (uvicorn's sends then wait)."""
    transport, peer, writes = await _pair()
    protocol = transport.wrapped.protocol
    frame = b"x" * 1024
    with coalesced_writes():
        for _ in range(63):
            transport.write(frame)
        assert writes == []  # under the bound: held
        for _ in range(2000):  # ~2 MiB in one block, to a peer that reads nothing
            transport.write(frame)
            if protocol.paused:
                break
        assert protocol.paused
        assert transport._pending_bytes < CoalescingTransport.FLUSH_BYTES
        assert sum(map(len, writes)) >= CoalescingTransport.FLUSH_BYTES
    peer.close()
    transport.wrapped.abort()


@on_uvloop
async def test_writelines_and_write_eof_keep_the_order():
    transport, peer, _ = await _pair()
    with coalesced_writes():
        transport.write(b"a;")
        transport.writelines([b"b;", b"c;"])
        transport.write_eof()  # what is pending goes first
    assert await _read_all(peer, 1 << 20) == b"a;b;c;"
    peer.close()
    transport.wrapped.close()


def test_a_finished_event_loop_is_not_kept():
    async def one_socket():
        transport, peer, _ = await _pair()
        with coalesced_writes():
            transport.write(b"x")
        peer.close()
        transport.wrapped.close()
        await asyncio.sleep(0)
        return weakref.ref(asyncio.get_running_loop())

    loop = uvloop.run(one_socket())
    gc.collect()
    assert loop() is None

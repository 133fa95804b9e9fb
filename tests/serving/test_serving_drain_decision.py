"""Whether SIGTERM drains is decided by vLLM's API port, not by the supervisor's phase.

Real sockets on loopback, in the three states vLLM's port goes through: bound but not listening
(model loading: vLLM binds before it builds the engine), listening but not answering (a
saturated server, or one whose accept queue is full), and answering. Only the first may skip
the drain. The end-to-end case (a burst in the API's first second) is in
test_serving_engine_failure.py.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

from serving.monitor import VllmClient
from serving.settings import Settings


@pytest.fixture
def port_socket() -> Iterator[socket.socket]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock


def listening(sock: socket.socket) -> bool:
    port = sock.getsockname()[1]
    client = VllmClient(Settings(model="m", host="127.0.0.1", api_port=port, check_timeout_s=0.5))

    async def ask() -> bool:
        try:
            return await client.api_listening()
        finally:
            await client.aclose()

    return asyncio.run(ask())


def test_bound_but_not_listening_means_nothing_can_be_in_flight(port_socket: socket.socket) -> None:
    # What vLLM's port looks like while the model loads (setup_server binds, serve_http listens).
    assert listening(port_socket) is False


def test_listening_without_an_answer_must_drain(port_socket: socket.socket) -> None:
    # Connections complete in the kernel's accept queue; nothing reads them, as on a saturated
    # server: requests may be queued there, so this is not "idle".
    port_socket.listen(8)
    assert listening(port_socket) is True


def test_answering_must_drain(port_socket: socket.socket) -> None:
    port_socket.listen(8)

    async def serve_once_and_ask() -> bool:
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(answer, sock=port_socket)
        port = port_socket.getsockname()[1]
        client = VllmClient(Settings(model="m", host="127.0.0.1", api_port=port, check_timeout_s=2))
        try:
            return await client.api_listening()
        finally:
            await client.aclose()
            server.close()

    assert asyncio.run(serve_once_and_ask()) is True

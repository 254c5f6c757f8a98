"""The waitress adapter's assumptions about channels and servers, on a real socket pair and a
real waitress server (tests/unit/test_waitress_adapter.py checks the rest in-process)."""

from __future__ import annotations

import inspect
import socket

from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer

from cora_ocr.host import server as adapter


def test_channels_and_servers_have_what_the_deadlines_read() -> None:
    server = adapter.make_server(lambda *_: [b""], "127.0.0.1", 0, threads=1)
    ours, theirs = socket.socketpair()
    try:
        assert isinstance(server, TcpWSGIServer) and int(server.effective_port) > 0
        # The loop asks the listener readable() at every turn; it runs maintenance(now) every
        # cleanup_interval seconds: where the deadlines are judged.
        assert "self.maintenance(now)" in inspect.getsource(TcpWSGIServer.readable)
        assert server.adj.cleanup_interval == 1
        assert isinstance(server.active_channels, dict)
        channel = server.channel_class(server, ours, ("127.0.0.1", 1), server.adj, server._map)
        assert isinstance(channel, HTTPChannel)
        for name in ("request", "requests", "last_activity", "creation_time", "will_close"):
            assert hasattr(channel, name), name
        assert channel.addr == ("127.0.0.1", 1)
        assert channel.last_activity == channel.creation_time  # nothing read yet
        assert channel.parser_class(server.adj).peer == "127.0.0.1"
        channel.close()
    finally:
        ours.close()
        theirs.close()
        adapter.stop_server(server, loop_running=False)

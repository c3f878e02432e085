"""Drive relay's HTTP hub with the official Python MCP SDK's Streamable HTTP client.

Usage: python_http_client.py URL (the hub's `http://HOST:PORT/mcp`). Exits
non-zero on any mismatch; prints one line per step and `interop http ok`.
Written for the 2.x SDK pinned in requirements.txt: `streamable_http_client`
with an httpx2 client that carries the headers, then `ClientSession.initialize`
for the 2025-11-25 handshake or `ClientSession.discover` for stateless
2026-07-28.
"""

import asyncio
import json
import sys
from contextlib import asynccontextmanager

import anyio
from mcp import ClientSession, types
from mcp.client.streamable_http import streamable_http_client
from mcp.client.subscriptions import listen
from mcp.shared._httpx_utils import create_mcp_http_client


class Updates:
    """The `notifications/resources/updated` URIs a session received."""

    def __init__(self):
        self.uris = []
        self.event = anyio.Event()

    async def handler(self, message):
        if isinstance(message, Exception):
            print(f"transport error: {message!r}", file=sys.stderr)
            return
        if isinstance(message, types.ResourceUpdatedNotification):
            self.uris.append(message.params.uri)
            self.event.set()

    async def wait_for(self, uri, seconds=10):
        with anyio.fail_after(seconds):
            while uri not in self.uris:
                self.event = anyio.Event()
                await self.event.wait()


@asynccontextmanager
async def connect(url, token=None, modern=False, updates=None):
    """One MCP session on the hub, as the agent whose `X-Agent-Token` is `token` (none: anonymous)."""
    headers = {"X-Agent-Token": token} if token else {}
    async with create_mcp_http_client(headers=headers) as http, \
            streamable_http_client(url, http_client=http) as (read, write), \
            ClientSession(read, write, message_handler=updates.handler if updates else None) as session:
        if modern:
            await session.discover()
            assert session.protocol_version == "2026-07-28", session.protocol_version
        else:
            init = await session.initialize()
            assert init.server_info.name == "relay", init.server_info
            assert init.protocol_version == "2025-11-25", init.protocol_version
        yield session


def structured(result):
    assert not result.is_error, result
    data = result.structured_content
    assert data == json.loads(result.content[0].text), "text block differs from structuredContent"
    return data


async def main(url):
    # Anonymous: only health_check and register_agent.
    async with connect(url) as anon:
        tools = {t.name for t in (await anon.list_tools()).tools}
        assert {"health_check", "register_agent", "send_message", "get_messages"} <= tools, tools
        structured(await anon.call_tool("health_check", {}))
        alice = structured(await anon.call_tool("register_agent", {"name": "py-http-alice"}))
        bob = structured(await anon.call_tool("register_agent", {"name": "py-http-bob"}))
        assert alice["token"] and bob["token"] and alice["token"] != bob["token"], (alice, bob)
        refused = await anon.call_tool("send_message", {"to": "py-http-bob", "content": "who am I?"})
        assert refused.is_error, refused
        print("anonymous: initialize, tools/list, health_check, register_agent x2; send_message refused")

    inbox = "relay://inbox/py-http-bob"

    # 2025-11-25: Mcp-Session-Id sessions; resources/subscribe, updates on the GET stream.
    updates = Updates()
    async with connect(url, alice["token"]) as a, connect(url, bob["token"], updates=updates) as b:
        health = structured(await a.call_tool("health_check", {}))
        assert health["agent"]["name"] == "py-http-alice", health
        await b.subscribe_resource(inbox)
        sent = structured(await a.call_tool("send_message", {"to": "py-http-bob", "content": "hello over http"}))
        await updates.wait_for(inbox)
        got = structured(await b.call_tool("get_messages", {}))
        assert [m["id"] for m in got["messages"]] == [sent["message_id"]], got
        assert got["messages"][0]["content"] == "hello over http", got
        assert got["messages"][0]["from"] == "py-http-alice", got
        print("2025-11-25: send_message -> notifications/resources/updated -> get_messages")

    # 2026-07-28: stateless requests with _meta; subscriptions/listen.
    async with connect(url, alice["token"], modern=True) as a, connect(url, bob["token"], modern=True) as b:
        async with listen(b, resource_subscriptions=[inbox]) as events:
            sent = structured(await a.call_tool("send_message", {"to": "py-http-bob", "content": "hello, stateless"}))
            with anyio.fail_after(10):
                event = await events.__anext__()
            assert event.uri == inbox, event
        got = structured(await b.call_tool("get_messages", {}))
        assert [m["id"] for m in got["messages"]] == [sent["message_id"]], got
        assert got["messages"][0]["content"] == "hello, stateless", got
        print("2026-07-28: server/discover, subscriptions/listen, send_message -> updated -> get_messages")
    print("interop http ok")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))

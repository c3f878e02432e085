"""Drive `relay serve` with the official Python MCP SDK over stdio.

Usage: python_client.py RELAY_BIN DB_PATH. Exits non-zero on any mismatch.
Written for the 2.x SDK pinned in requirements.txt (snake_case attributes).
"""

import asyncio
import json
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


def params(relay, db, agent, caps=""):
    args = ["--db", db, "serve", "--agent", agent]
    if caps:
        args += ["--capabilities", caps]
    return StdioServerParameters(command=relay, args=args)


def structured(result):
    assert not result.is_error, result
    data = result.structured_content
    assert data == json.loads(result.content[0].text), "text block differs from structuredContent"
    return data


async def main(relay, db):
    async with stdio_client(params(relay, db, "py-alice", "channels")) as (ra, wa), \
            stdio_client(params(relay, db, "py-bob")) as (rb, wb):
        async with ClientSession(ra, wa) as alice, ClientSession(rb, wb) as bob:
            init = await alice.initialize()
            assert init.server_info.name == "relay", init.server_info
            await bob.initialize()

            tools = {t.name for t in (await alice.list_tools()).tools}
            assert {"send_message", "get_messages", "register_agent", "post_to_channel"} <= tools, tools

            health = structured(await alice.call_tool("health_check", {}))
            assert health["agent"]["name"] == "py-alice", health

            sent = structured(await alice.call_tool("send_message", {"to": "py-bob", "content": "hello from python"}))
            inbox = structured(await bob.call_tool("get_messages", {}))
            assert inbox["messages"][0]["id"] == sent["message_id"], inbox
            assert inbox["messages"][0]["content"] == "hello from python", inbox

            err = await bob.call_tool("send_message", {"to": "py-alice", "content": ""})
            assert err.is_error and err.structured_content["error_code"] == "VALIDATION", err

            structured(await alice.call_tool("create_channel", {"name": "py-room"}))
            structured(await bob.call_tool("join_channel", {"channel": "py-room"}))
            structured(await alice.call_tool("post_to_channel", {"channel": "py-room", "content": "hi room"}))
            page = structured(await bob.call_tool("get_channel_messages", {"channel": "py-room"}))
            assert page["messages"][0]["content"] == "hi room", page
    print("interop ok")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))

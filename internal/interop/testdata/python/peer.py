"""A WebSocket peer built on the websockets library, driven by the Go interop tests.

    /usr/bin/python3 peer.py client     connects where the "connect" command says
    /usr/bin/python3 peer.py server     listens on 127.0.0.1, port 0, and prints {"port": N}

Commands arrive on stdin as JSON lines and each gets exactly one JSON line
on stdout: {"ok": true, ...} or {"error": "..."}. Binary data travels as
base64 in "data" and "parts". The peer exits when stdin ends.
"""

import asyncio
import base64
import json
import sys

import websockets

OP_TEXT = 0x1


def b64(data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return base64.b64encode(data).decode("ascii")


class Peer:
    def __init__(self, mode):
        self.mode = mode
        self.ws = None
        self.server = None
        self.incoming = asyncio.Queue()

    async def start_server(self):
        async def handler(ws, path=None):
            await self.incoming.put(ws)
            # The connection lives as long as this handler runs.
            await ws.wait_closed()

        # max_size=None: the tests send messages of 1 MiB, websockets'
        # default limit.
        self.server = await websockets.serve(handler, "127.0.0.1", 0, max_size=None)
        return self.server.sockets[0].getsockname()[1]

    def info(self):
        # The Sec-WebSocket-Extensions response header as the client
        # received it or the server sent it, and the server's view of the
        # client's offer.
        ext = self.ws.response_headers.get("Sec-WebSocket-Extensions", "")
        offer = self.ws.request_headers.get("Sec-WebSocket-Extensions", "") if self.mode == "server" else ""
        path = getattr(self.ws, "path", "") if self.mode == "server" else ""
        return {
            "ok": True,
            "extensions": ext or "",
            "offer": offer or "",
            "protocol": self.ws.subprotocol or "",
            "path": path,
        }

    async def closed_result(self):
        await self.ws.wait_closed()
        return {"ok": True, "closed": True, "code": self.ws.close_code, "reason": self.ws.close_reason or ""}

    async def handle(self, cmd):
        op = cmd["op"]
        timeout = cmd.get("timeout_ms", 10000) / 1000
        if op == "connect":
            self.ws = await asyncio.wait_for(
                websockets.connect(cmd["url"], max_size=None, open_timeout=timeout), timeout
            )
            return self.info()
        if op == "accept":
            self.ws = await asyncio.wait_for(self.incoming.get(), timeout)
            return self.info()
        if self.ws is None:
            raise RuntimeError("no connection")
        if op == "send":
            parts = [base64.b64decode(p) for p in cmd["parts"]]
            if cmd["type"] == "binary":
                msg = parts[0] if len(parts) == 1 else parts
            else:
                try:
                    texts = [p.decode("utf-8") for p in parts]
                except UnicodeDecodeError:
                    if len(parts) != 1:
                        raise
                    # websockets only sends str as text; an invalid text
                    # frame has to be written by hand.
                    await self.ws.write_frame(True, OP_TEXT, parts[0])
                    return {"ok": True}
                msg = texts[0] if len(texts) == 1 else texts
            # A list is sent as one message with one fragment per item.
            await asyncio.wait_for(self.ws.send(msg), timeout)
            return {"ok": True}
        if op == "recv":
            try:
                msg = await asyncio.wait_for(self.ws.recv(), timeout)
            except websockets.ConnectionClosed:
                return await asyncio.wait_for(self.closed_result(), timeout)
            kind = "text" if isinstance(msg, str) else "binary"
            return {"ok": True, "type": kind, "data": b64(msg)}
        if op == "ping":
            data = base64.b64decode(cmd.get("data", ""))
            waiter = await self.ws.ping(data)
            await asyncio.wait_for(waiter, timeout)
            return {"ok": True, "pong": b64(data)}
        if op == "close":
            code = cmd.get("code", 0)
            if code:
                await asyncio.wait_for(self.ws.close(code, cmd.get("reason", "")), timeout)
            else:
                # websockets always sends a status code; 1000 is its default.
                await asyncio.wait_for(self.ws.close(), timeout)
            return await asyncio.wait_for(self.closed_result(), timeout)
        if op == "wait_close":
            return await asyncio.wait_for(self.closed_result(), timeout)
        raise RuntimeError(f"unknown op {op}")

    async def finish(self):
        if self.ws is not None:
            self.ws.transport.abort()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def main():
    if len(sys.argv) != 2 or sys.argv[1] not in ("client", "server"):
        sys.stderr.write("usage: peer.py client|server\n")
        sys.exit(2)
    peer = Peer(sys.argv[1])
    if peer.mode == "server":
        out({"ok": True, "port": await peer.start_server()})
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.buffer.readline)
        if not line:
            break
        if not line.strip():
            continue
        try:
            out(await peer.handle(json.loads(line)))
        except Exception as e:  # every failure is reported to the test
            out({"error": f"{type(e).__name__}: {e}"})
    await peer.finish()


asyncio.run(main())

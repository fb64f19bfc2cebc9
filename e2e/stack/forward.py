"""Port forwarding into the stack's network namespace, like `kubectl port-forward`: the host side
listens on a loopback TCP port and relays each connection over a Unix socket (the file system is
shared) to the namespace side, which connects to an address inside the namespace.

  python forward.py inside SOCKET HOST:PORT    # run inside the namespace (e2e/stack.sh exec)
  python forward.py outside PORT SOCKET        # run on the host: listens on 127.0.0.1:PORT
"""

import asyncio
import os
import sys


async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def relay(client_reader, client_writer, open_upstream):
    try:
        up_reader, up_writer = await open_upstream()
    except OSError:
        client_writer.close()
        return
    await asyncio.gather(pipe(client_reader, up_writer), pipe(up_reader, client_writer))


async def main(mode, a, b):
    if mode == "inside":
        host, port = b.rsplit(":", 1)
        if os.path.exists(a):
            os.unlink(a)
        server = await asyncio.start_unix_server(
            lambda r, w: relay(r, w, lambda: asyncio.open_connection(host, int(port))), path=a)
    else:
        server = await asyncio.start_server(
            lambda r, w: relay(r, w, lambda: asyncio.open_unix_connection(b)), host="127.0.0.1", port=int(a))
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))

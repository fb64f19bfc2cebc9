"""A TCP proxy a fault test controls, put between a process under test and a shared component of
the stack (the kube-apiserver) so that the test can take the component away from that process
alone. The proxy is a child process (this file run as a script): `down()` kills it, so the kernel
refuses new connections and resets the relayed ones, as for a stopped apiserver; `up()` starts
it again on the same port; after `slow()` (SIGUSR1) it holds each chunk coming back for `delay`
seconds, a slow apiserver, until `fast()` (SIGUSR2). Runs a process and sockets.

  python -P proxy.py PORT UPSTREAM_HOST:UPSTREAM_PORT DELAY_SECONDS   # prints "ready PORT"
  (-P: support/ must not shadow the standard library)
"""

import asyncio
import signal
import subprocess
import sys


class TcpProxy:
    """Relays 127.0.0.1:`port` to `upstream` (host, port) while up; usable as a context manager."""

    def __init__(self, upstream, delay=2.0):
        self.upstream = upstream
        self.delay = delay
        self.port = 0
        self.process = None

    def up(self):
        self.process = subprocess.Popen(
            [sys.executable, "-P", __file__, str(self.port), f"{self.upstream[0]}:{self.upstream[1]}", str(self.delay)],
            stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        assert line.startswith("ready "), f"proxy did not start: {line!r}"
        self.port = int(line.split()[1])
        return self

    def down(self):
        """Refuses new connections and resets the open ones."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def slow(self):
        self.process.send_signal(signal.SIGUSR1)

    def fast(self):
        self.process.send_signal(signal.SIGUSR2)

    def __enter__(self):
        return self.up()

    def __exit__(self, *exc):
        self.down()


async def pipe(reader, writer, delay):
    try:
        while data := await reader.read(65536):
            if delay and delay["on"]:
                await asyncio.sleep(delay["seconds"])
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def main(port, upstream, delay):
    host, upstream_port = upstream.rsplit(":", 1)
    delay = {"seconds": delay, "on": False}
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, lambda: delay.update(on=True))
    loop.add_signal_handler(signal.SIGUSR2, lambda: delay.update(on=False))

    async def relay(client_reader, client_writer):
        try:
            up_reader, up_writer = await asyncio.open_connection(host, int(upstream_port))
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(pipe(client_reader, up_writer, None), pipe(up_reader, client_writer, delay))

    server = await asyncio.start_server(relay, host="127.0.0.1", port=port, reuse_address=True)
    print(f"ready {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], float(sys.argv[3])))

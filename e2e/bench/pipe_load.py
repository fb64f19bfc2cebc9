"""Closed-loop load for the transports wrk cannot drive, because the answer does not come back on
the request's own response: stdio (JSON lines on the server's stdin/stdout pipes) and legacy SSE
(`POST /message` answers 202, the result arrives on the `GET /sse` stream). `inflight` calls are
kept outstanding (1 or 8, like wrk's connections); each call's latency runs from its request's
write to its answer's arrival. Plain blocking sockets and pipes, one reader thread, no JSON
parsing of answers (the id is read from the answer's first bytes), so the client's own CPU per
call stays small; `measure` reports it so a reader can tell the client's ceiling. Does I/O.
"""

import re
import socket
import subprocess
import threading
import time

ID = re.compile(rb'"id":(\d+)')


class Recorder:
    """Send times by id, latencies of answers, a window of `inflight` outstanding calls."""

    def __init__(self, inflight):
        self.sent, self.latencies = {}, []
        self.window = threading.Semaphore(inflight)
        self.errors = 0

    def sending(self, call_id):
        self.window.acquire()
        self.sent[call_id] = time.perf_counter()

    def answered(self, line):
        found = ID.search(line[:80])
        started = found and self.sent.pop(int(found.group(1)), None)
        if started:
            self.latencies.append(time.perf_counter() - started)
            self.errors += b'"isError":true' in line
            self.window.release()


def summary(recorder, elapsed, cpu):
    """calls/s, p50 ms, p99 ms, and the client's own CPU µs per call."""
    assert recorder.errors == 0, f"{recorder.errors} calls failed"
    latencies = sorted(recorder.latencies)
    n = len(latencies)
    return (n / elapsed, latencies[n // 2] * 1000, latencies[int(n * 0.99)] * 1000, cpu / n * 1e6)


def drive(recorder, body, send, seconds):
    """Sends calls with fresh ids until `seconds` pass, then waits for the outstanding ones."""
    cpu, started = time.process_time(), time.perf_counter()
    call_id = 1000
    while time.perf_counter() - started < seconds:
        call_id += 1
        recorder.sending(call_id)
        send(body % call_id)
    while recorder.sent and time.perf_counter() - started < seconds + 10:
        time.sleep(0.001)
    return summary(recorder, time.perf_counter() - started, time.process_time() - cpu)


def stdio(command, env, initialize, body, inflight, seconds):
    """A server on pipes: initialize, then `body` (a JSON line with `%d` for the id)."""
    server = subprocess.Popen(command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL)
    try:
        server.stdin.write(initialize + b"\n")
        server.stdin.flush()
        server.stdout.readline()
        server.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
        server.stdin.flush()
        recorder = Recorder(inflight)

        def read():
            for line in server.stdout:
                recorder.answered(line)

        threading.Thread(target=read, daemon=True).start()
        return drive(recorder, body, lambda data: (server.stdin.write(data + b"\n"), server.stdin.flush()), seconds)
    finally:
        server.stdin.close()
        server.terminate()
        server.wait(15)


def sse(port, initialize, body, inflight, seconds):
    """A legacy SSE session on 127.0.0.1:`port`: the event stream (HTTP/1.0, so no chunked
    framing to undo) and one keep-alive socket whose POSTs are each answered 202 at once."""
    stream = socket.create_connection(("127.0.0.1", port))
    poster = socket.create_connection(("127.0.0.1", port))
    try:
        stream.sendall(b"GET /sse HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n")
        events = stream.makefile("rb")
        path = next(line for line in events if line.startswith(b"data: "))[6:].strip()
        if b"://" in path:  # the Go server names a whole URL
            path = b"/" + path.split(b"/", 3)[3]
        poster.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def post(data):
            poster.sendall(b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                           b"Content-Length: %d\r\n\r\n%s" % (path, len(data), data))
            reply = poster.recv(4096)
            while not reply.endswith(b"\r\n\r\n"):  # 202 has no body
                reply += poster.recv(4096)
            assert reply.startswith(b"HTTP/1.1 202 "), reply

        post(initialize)
        next(line for line in events if line.startswith(b"data: "))
        post(b'{"jsonrpc":"2.0","method":"notifications/initialized"}')
        recorder = Recorder(inflight)

        def read():
            for line in events:
                if line.startswith(b"data: "):
                    recorder.answered(line[6:])

        threading.Thread(target=read, daemon=True).start()
        return drive(recorder, body, post, seconds)
    finally:
        poster.close()
        stream.close()

"""The operator binary as a process of the test: started with the test's arguments and its
/metrics, /healthz and /readyz on a free loopback port, output in a log file, SIGTERM on stop."""

import os
import signal
import subprocess

import httpx2 as httpx

from support.net import free_port
from support.stack import OPERATOR


class Operator:
    """One operator replica; usable as a context manager."""

    def __init__(self, log_dir, *args, env=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(log_dir / f"operator-{self.port}.log", "w")  # noqa: SIM115 - closed in stop
        self.process = subprocess.Popen(
            [str(OPERATOR), *args, "--metrics-bind-address", f"127.0.0.1:{self.port}"],
            stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})

    def metrics(self):
        """The /metrics text."""
        return httpx.get(self.url + "/metrics", timeout=5).text

    def metric(self, name):
        """The value of the first sample named `name` (with or without labels), 0 when absent."""
        for line in self.metrics().splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def leads(self):
        return self.metric("kubernetes_mcp_operator_leader") == 1

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(20)
        self.log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

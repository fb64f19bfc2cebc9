"""The pod runner's readiness and liveness probes (httpGet or tcpSocket to the pod's IP, with the
probe's delay, period, timeout and thresholds), as the kubelet runs them. Does I/O: connects to
the pod."""

import socket
import time

import httpx2 as httpx


class Probe:
    """A readiness or liveness probe: `step` runs it when due and says the outcome so far
    (True/False once a threshold is reached, None while undecided)."""

    def __init__(self, spec, pod):
        self.spec, self.pod = spec, pod
        self.reset()

    def reset(self):
        self.due = time.time() + (self.spec or {}).get("initialDelaySeconds", 0)
        self.successes = self.failures = 0
        self.state = None

    def step(self, default):
        if self.spec is None:
            return default
        if time.time() < self.due:
            return self.state
        self.due = time.time() + self.spec.get("periodSeconds", 10)
        if self.attempt():
            self.successes, self.failures = self.successes + 1, 0
            if self.successes >= self.spec.get("successThreshold", 1):
                self.state = True
        else:
            self.successes, self.failures = 0, self.failures + 1
            if self.failures >= self.spec.get("failureThreshold", 3):
                self.state = False
        return self.state

    def port(self, value):
        if isinstance(value, int) or str(value).isdigit():
            return int(value)
        for port in self.pod.container.get("ports", []):
            if port.get("name") == value:
                return port["containerPort"]
        return None

    def attempt(self):
        timeout = self.spec.get("timeoutSeconds", 1)
        if "httpGet" in self.spec:
            get = self.spec["httpGet"]
            port = self.port(get["port"])
            scheme = get.get("scheme", "HTTP").lower()
            try:
                answer = httpx.get(f"{scheme}://{get.get('host', self.pod.ip)}:{port}{get.get('path', '/')}",
                                   timeout=timeout, verify=False)
                return 200 <= answer.status_code < 400
            except httpx.HTTPError:
                return False
        if "tcpSocket" in self.spec:
            try:
                socket.create_connection((self.pod.ip, self.port(self.spec["tcpSocket"]["port"])), timeout).close()
                return True
            except OSError:
                return False
        return True

"""Plays kube-proxy for one Service of the test stack: puts the Service's ClusterIP on the
namespace's loopback, listens on ClusterIP:PORT and relays each new TCP connection to a ready
endpoint of the Service's EndpointSlices (read at connection time) chosen at random, as
kube-proxy's iptables mode does. Like kube-proxy, it balances connections, not requests.

  python service_proxy.py NAMESPACE SERVICE PORT     # inside the stack (e2e/stack.sh exec)

Prints `ready <clusterIP>:<port>` once it listens.
"""

import asyncio
import random
import subprocess
import sys

from forward import relay
from pod_runner import Api


class ServiceProxy:
    def __init__(self, api, namespace, service, port):
        self.api, self.namespace, self.service, self.port = api, namespace, service, port

    def cluster_ip(self):
        return self.api.get(f"/api/v1/namespaces/{self.namespace}/services/{self.service}")["spec"]["clusterIP"]

    def endpoints(self):
        # The endpoint port of the Service port PORT, by its name (a Service may have several).
        ports = self.api.get(f"/api/v1/namespaces/{self.namespace}/services/{self.service}")["spec"]["ports"]
        name = next((p.get("name", "") for p in ports if p["port"] == self.port), "")
        slices = self.api.get(f"/apis/discovery.k8s.io/v1/namespaces/{self.namespace}/endpointslices"
                              f"?labelSelector=kubernetes.io/service-name={self.service}")["items"]
        target = next((p["port"] for s in slices for p in s.get("ports") or []
                       if p.get("port") and p.get("name", "") == name), self.port)
        return sorted((address, target) for s in slices for e in s.get("endpoints") or []
                      if e.get("conditions", {}).get("ready") for address in e["addresses"])

    async def open_endpoint(self):
        endpoints = await asyncio.to_thread(self.endpoints)
        if not endpoints:
            raise ConnectionRefusedError(f"no ready endpoint for {self.namespace}/{self.service}")
        host, port = random.choice(endpoints)
        return await asyncio.open_connection(host, port)

    async def serve(self):
        ip = self.cluster_ip()
        subprocess.run(["ip", "addr", "replace", f"{ip}/32", "dev", "lo"], check=True)
        server = await asyncio.start_server(lambda r, w: relay(r, w, self.open_endpoint), host=ip, port=self.port)
        print(f"ready {ip}:{self.port}", flush=True)
        async with server:
            await server.serve_forever()


if __name__ == "__main__":
    import os
    namespace, service, port = sys.argv[1:4]
    asyncio.run(ServiceProxy(Api(os.environ["KMCP_STACK_DIR"]), namespace, service, int(port)).serve())

"""The pod runner: plays kubelet and CNI for the Pods of chosen namespaces in the test stack.

No scheduler and no kubelet run in the stack (e2e/stack/kubelet serves only the kubelet's HTTP
API, over what this writes). For every Pod of the watched namespaces this:
- binds it to the stack's Node (the `pods/binding` subresource, as a scheduler would);
- gives it a pod IP 10.244.0.N and a network namespace of its own (a veth pair: `eth0` in the
  pod, `vhN` with a /32 route on the node side; the node is 10.244.0.1, where the apiserver and
  the collector listen), a UTS namespace (hostname = pod name) and a mount namespace;
- resolves the container's env as the kubelet does (envFrom, then env; literal values with
  `$(VAR)` expansion; fieldRefs from the real Pod; secretKeyRef / configMapKeyRef from the
  cluster) and adds in-cluster config: KUBERNETES_SERVICE_HOST/PORT point at the node address,
  since no kube-proxy makes the `kubernetes` Service's ClusterIP reachable;
- materialises configMap, secret, emptyDir, downwardAPI and projected volumes (the
  ServiceAccount token from the TokenRequest API with the projected audience and expiry, bound
  to the Pod, refreshed at 80 % of its life; emptyDirs world-writable as the kubelet makes
  them) in a directory per pod, and bind-mounts them at their mountPaths inside the pod's mount
  namespace;
- runs the container's image as a kubelet and runc would: pulls it from its registry over the OCI
  distribution API (e2e/stack/oci.py; the stack's registry is $KMCP_REGISTRY, e2e/images.sh
  --push fills it), ErrImagePull then ImagePullBackOff with the kubelet's back-off when it
  cannot; unpacks it once per digest under $KMCP_STACK_DIR/images; then (e2e/stack/runtime.py,
  e2e/stack/enter.py) the pod's root is an overlay of the image's root (read-only with
  readOnlyRootFilesystem) with /proc, /dev, /sys, /etc/hosts and the volumes mounted into it,
  made the root by pivot_root; the program is the image's ENTRYPOINT and CMD, replaced by the
  container's command and args; the environment is the image's, then the container's; the user
  is the image's USER or runAsUser/runAsGroup, and runAsNonRoot is enforced as the kubelet does
  (CreateContainerConfigError);
- images under `registry.invalid/` (a name that never resolves) and images mapped with
  `--image IMAGE=PATH` are not pulled: the program (PATH, or the container's command) runs on the
  host's filesystem, as root, a mountPath missing on the host being created in an overlay over its
  top-level directory (the test pods that need a shell, curl or python use this);
- runs the readiness and liveness probes (httpGet or tcpSocket, with their delay, period,
  timeout and thresholds) and patches the Pod's status as a kubelet does (phase, podIP,
  hostIP, conditions, containerStatuses), so EndpointSlices and Deployments see real readiness;
- restarts an exited or unhealthy process with the kubelet's back-off (10 s doubling, at most
  5 min), showing CrashLoopBackOff and the restart count meanwhile;
- on deletion sends SIGTERM, waits the grace period, sends SIGKILL, then removes the Pod.
The container's output is in `$KMCP_STACK_DIR/pods/<ns>_<name>_<uid>/container.log` while it
runs and in `$KMCP_STACK_DIR/pod-logs/<ns>_<name>_<uid>.log` afterwards; beside the log, `pid`
(the running process, whose namespaces an exec enters) and `container` (its name): the stack's
kubelet API (e2e/stack/kubelet) serves logs, exec and stats from these.
Not done: one container per Pod (more is reported as an error), no init containers, no
resource limits, no image pull secrets (the stack's registry needs none), no zstd layers.

Run inside the stack: `python pod_runner.py --namespace NS [--image IMAGE=PATH]`. Stops every pod
process on SIGTERM or SIGINT.
"""

import argparse
import base64
import contextlib
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time

import httpx2 as httpx

import oci
import runtime
from probes import Probe
from kubelet import NODE_IP, binding, claim_address, condition, now, pod_status, release_address

APISERVER_PORT = "6443"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
TOKEN_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
# Images here are not pulled: their program runs on the host (RFC 6761: the name never resolves).
HOST_IMAGES = "registry.invalid/"


def log(message):
    print(f"[pod-runner {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Api:
    """The stack's apiserver as admin (its client certificate)."""

    def __init__(self, stack_dir):
        pki = os.path.join(stack_dir, "pki")
        tls = ssl.create_default_context(cafile=os.path.join(pki, "ca.crt"))
        tls.load_cert_chain(os.path.join(pki, "admin.crt"), os.path.join(pki, "admin.key"))
        self.http = httpx.Client(base_url=f"https://127.0.0.1:{APISERVER_PORT}", timeout=10, verify=tls)

    def request(self, method, path, body=None, content_type="application/json", ok=(200, 201)):
        headers = {"content-type": content_type} if body is not None else {}
        response = self.http.request(method, path, headers=headers,
                                     content=None if body is None else json.dumps(body))
        if response.status_code not in ok:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None

    def get(self, path):
        return self.request("GET", path)

    def get_opt(self, path):
        response = self.http.get(path)
        return response.json() if response.status_code == 200 else None


def expand(text, env):
    """Kubernetes `$(VAR)` expansion: defined names are replaced, `$$` escapes, others stay."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)",
                  lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), text)


def field(pod, path):
    """A downward-API fieldRef of the Pod."""
    meta, spec, status = pod["metadata"], pod["spec"], pod.get("status", {})
    simple = {"metadata.name": meta["name"], "metadata.namespace": meta["namespace"], "metadata.uid": meta["uid"],
              "spec.nodeName": spec.get("nodeName", ""), "spec.serviceAccountName": spec.get("serviceAccountName", ""),
              "status.podIP": status.get("podIP", ""), "status.hostIP": status.get("hostIP", "")}
    if path in simple:
        return simple[path]
    match = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if match:
        return meta.get(match.group(1), {}).get(match.group(2), "")
    raise ValueError(f"unsupported fieldRef {path}")


class PodError(Exception):
    """A pod that cannot be run as specified: (reason, message) for its container status."""

    def __init__(self, reason, message):
        super().__init__(f"{reason}: {message}")
        self.reason, self.message = reason, message


class Pod(threading.Thread):
    """One Pod, from binding to removal."""

    def __init__(self, runner, pod):
        super().__init__(daemon=True, name=pod["metadata"]["name"])
        self.runner, self.pod = runner, pod
        self.api = Api(runner.stack_dir)
        meta = pod["metadata"]
        self.ns, self.name, self.uid = meta["namespace"], meta["name"], meta["uid"]
        self.path = f"/api/v1/namespaces/{self.ns}/pods/{self.name}"
        self.dir = os.path.join(runner.stack_dir, "pods", f"{self.ns}_{self.name}_{self.uid}")
        self.ip = None
        self.container = pod["spec"]["containers"][0]
        self.process = None
        self.image = None  # the pulled image (oci.Image), None for a host program
        self.identity = None  # (uid, gid, groups) of an image's container
        self.deleting = threading.Event()
        self.restarts = 0
        self.ready = False
        self.token_refresh = []  # (time, volume dir, source) of projected tokens
        self.started_at = None
        self.last_state = {}
        self.reported = None

    # --- the thread -------------------------------------------------------------------------

    def run(self):
        try:
            self.bind()
            self.ip = claim_address()
            self.only_container()
            if self.from_registry():
                self.image = self.pull_image()
                if self.image is None:  # deleted, or the runner stopped, while pulling
                    return
            self.program = self.program_of(self.container)
            self.refresh_pod()
            if self.image:
                try:
                    self.identity = runtime.identity(self.pod, self.container, self.image)
                except ValueError as e:
                    raise PodError("CreateContainerConfigError", str(e)) from e
            self.prepare_volumes()
            self.env = self.resolve_env()
            self.supervise()
        except PodError as e:
            log(f"{self.ns}/{self.name}: {e}")
            self.report_waiting(e.reason, e.message)
            self.deleting.wait()
        except Exception as e:  # noqa: BLE001 - one pod's failure must not stop the runner
            log(f"{self.ns}/{self.name}: {type(e).__name__}: {e}")
            self.deleting.wait()
        finally:
            self.stop_process()
            if self.deleting.is_set():  # else the runner is stopping: the Pod stays, as with a dead kubelet
                with contextlib.suppress(RuntimeError, httpx.HTTPError):
                    self.api.request("DELETE", self.path, {"gracePeriodSeconds": 0, "preconditions": {"uid": self.uid}},
                                     ok=(200, 202, 404, 409))
            if self.ip:
                release_address(self.ip)
            # The container's output outlives the pod (as a node keeps logs for a while).
            logs = os.path.join(self.runner.stack_dir, "pod-logs")
            os.makedirs(logs, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                shutil.move(os.path.join(self.dir, "container.log"), os.path.join(logs, os.path.basename(self.dir) + ".log"))
            shutil.rmtree(self.dir, ignore_errors=True)
            self.runner.forget(self.uid)

    def update(self, pod):
        # A listing taken before our own binding or status write must not replace the newer
        # object (it would lose spec.nodeName and the podIP for the downward API); an equal
        # revision is the same object. etcd revisions only grow.
        if int(pod["metadata"]["resourceVersion"]) <= int(self.pod["metadata"]["resourceVersion"]):
            return
        self.pod = pod
        if pod["metadata"].get("deletionTimestamp"):
            self.deleting.set()

    # --- scheduling, image, env, volumes ---------------------------------------------------

    def bind(self):
        if self.pod["spec"].get("nodeName"):
            return
        self.api.request("POST", f"{self.path}/binding", binding(self.ns, self.name, self.runner.node))

    def refresh_pod(self):
        self.pod = self.api.get(self.path)
        self.pod.setdefault("status", {}).update({"podIP": self.ip, "hostIP": NODE_IP})

    def only_container(self):
        if len(self.pod["spec"]["containers"]) != 1 or self.pod["spec"].get("initContainers"):
            raise PodError("CreateContainerConfigError", "the pod runner runs exactly one container per pod")

    def from_registry(self):
        image = self.container["image"]
        return image not in self.runner.images and not image.startswith(HOST_IMAGES)

    def pull_image(self):
        """The container's image, pulled as the kubelet pulls: on failure ErrImagePull, then
        ImagePullBackOff for the back-off (10 s doubling, at most 5 min), then again."""
        image, failures = self.container["image"], 0
        while not self.deleting.is_set() and not self.runner.stopping.is_set():
            try:
                return oci.pull(image, self.runner.image_cache)
            except oci.PullError as e:
                failures += 1
                log(f"{self.ns}/{self.name}: pulling {image}: {e}")
                self.report_waiting("ErrImagePull", f'failed to pull and unpack image "{image}": {e}')
                if self.deleting.wait(2):
                    break
                self.report_waiting("ImagePullBackOff", f'Back-off pulling image "{image}"')
                self.deleting.wait(min(10 * 2 ** (failures - 1), 300))
        return None

    def program_of(self, container):
        """The argv before `$(VAR)` expansion."""
        if self.image:
            return runtime.program(container, self.image)
        args = container.get("args", [])
        if container.get("command"):
            return [*container["command"], *args]
        binary = self.runner.images.get(container["image"])
        if binary is None:
            raise PodError("ErrImagePull", f"image {container['image']} is not mapped (--image IMAGE=PATH)")
        return [binary, *args]

    def object_data(self, kind, name, optional=False):
        """The data of a ConfigMap or Secret (bytes per key), or None when optional and absent."""
        plural = "configmaps" if kind == "ConfigMap" else "secrets"
        obj = self.api.get_opt(f"/api/v1/namespaces/{self.ns}/{plural}/{name}")
        if obj is None:
            if optional:
                return None
            raise PodError("CreateContainerConfigError", f"{kind.lower()} \"{name}\" not found")
        if kind == "Secret":
            return {k: base64.b64decode(v) for k, v in obj.get("data", {}).items()}
        data = {k: v.encode() for k, v in obj.get("data", {}).items()}
        data.update({k: base64.b64decode(v) for k, v in obj.get("binaryData", {}).items()})
        return data

    def resolve_env(self):
        # HOME=/ as for an image without a home: never a host user's ~/.kube/config.
        env = {"PATH": PATH, "HOME": self.image.home(self.identity[0]) if self.image else "/"}
        if self.image:
            env.update(self.image.env)
        env.update({"HOSTNAME": self.name, "KUBERNETES_SERVICE_HOST": NODE_IP, "KUBERNETES_SERVICE_PORT": APISERVER_PORT})
        for source in self.container.get("envFrom", []):
            ref = source.get("configMapRef") or source.get("secretRef")
            kind = "ConfigMap" if "configMapRef" in source else "Secret"
            data = self.object_data(kind, ref["name"], ref.get("optional", False)) or {}
            env.update({source.get("prefix", "") + k: v.decode() for k, v in data.items()})
        for var in self.container.get("env", []):
            if "valueFrom" not in var:
                env[var["name"]] = expand(var.get("value", ""), env)
                continue
            source = var["valueFrom"]
            if "fieldRef" in source:
                env[var["name"]] = field(self.pod, source["fieldRef"]["fieldPath"])
            elif "secretKeyRef" in source or "configMapKeyRef" in source:
                kind = "Secret" if "secretKeyRef" in source else "ConfigMap"
                ref = source.get("secretKeyRef") or source.get("configMapKeyRef")
                data = self.object_data(kind, ref["name"], ref.get("optional", False))
                if data is not None and ref["key"] in data:
                    env[var["name"]] = data[ref["key"]].decode()
                elif not ref.get("optional", False):
                    raise PodError("CreateContainerConfigError",
                                   f"couldn't find key {ref['key']} in {kind} {self.ns}/{ref['name']}")
            else:
                raise PodError("CreateContainerConfigError", f"unsupported valueFrom in {var['name']}")
        return env

    def prepare_volumes(self):
        for volume in self.pod["spec"].get("volumes", []):
            target = os.path.join(self.dir, "volumes", volume["name"])
            os.makedirs(target, exist_ok=True)
            if "configMap" in volume or "secret" in volume:
                kind, spec = ("ConfigMap", volume["configMap"]) if "configMap" in volume else ("Secret", volume["secret"])
                self.write_object(target, kind, spec.get("name") or spec.get("secretName"), spec)
            elif "projected" in volume:
                for source in volume["projected"]["sources"]:
                    self.write_projection(target, source)
            elif "downwardAPI" in volume:
                self.write_projection(target, volume)
            elif "emptyDir" in volume:
                os.chmod(target, 0o777)  # as the kubelet makes them: any user of the pod may write
            else:
                raise PodError("CreateContainerConfigError", f"unsupported volume type in {volume['name']}")

    def write_object(self, target, kind, name, spec):
        data = self.object_data(kind, name, spec.get("optional", False)) or {}
        items = spec.get("items") or [{"key": k, "path": k} for k in data]
        for item in items:
            if item["key"] not in data:
                raise PodError("CreateContainerConfigError", f"key {item['key']} not in {kind} {name}")
            write(os.path.join(target, item["path"]), data[item["key"]])

    def write_projection(self, target, source):
        if "serviceAccountToken" in source:
            self.write_token(target, source["serviceAccountToken"])
        elif "configMap" in source:
            self.write_object(target, "ConfigMap", source["configMap"]["name"], source["configMap"])
        elif "secret" in source:
            self.write_object(target, "Secret", source["secret"]["name"], source["secret"])
        elif "downwardAPI" in source:
            for item in source["downwardAPI"]["items"]:
                write(os.path.join(target, item["path"]), field(self.pod, item["fieldRef"]["fieldPath"]).encode())

    def write_token(self, target, spec):
        expiry = spec.get("expirationSeconds", 3600)
        request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {
            "audiences": [spec["audience"]] if spec.get("audience") else [],
            "expirationSeconds": expiry,
            "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": self.name, "uid": self.uid}}}
        sa = self.pod["spec"].get("serviceAccountName", "default")
        answer = self.api.request("POST", f"/api/v1/namespaces/{self.ns}/serviceaccounts/{sa}/token", request)
        write(os.path.join(target, spec["path"]), answer["status"]["token"].encode())
        self.token_refresh = [t for t in self.token_refresh if t[1:] != (target, spec)]
        self.token_refresh.append((time.time() + 0.8 * expiry, target, spec))

    # --- the process ------------------------------------------------------------------------

    def launcher(self):
        """The shell that runs inside the new namespaces: network, hostname, mounts, then exec."""
        lines = self.network()
        if self.image:
            read_only = bool((self.container.get("securityContext") or {}).get("readOnlyRootFilesystem"))
            lines += runtime.root_mounts(self.image, self.dir, self.container, os.path.join(self.dir, "volumes"), read_only)
            lines.append(runtime.enter(sys.executable, self.dir, self.container, self.image, *self.identity))
        else:
            lines += self.host_mounts()
            lines.append('exec "$@"')
        return "\n".join(lines)

    def network(self):
        return [
            "set -e",
            "while ! ip link show eth0 >/dev/null 2>&1; do sleep 0.02; done",
            f"ip link set lo up; ip addr add {self.ip}/32 dev eth0; ip link set eth0 up",
            f"ip route add {NODE_IP}/32 dev eth0; ip route add default via {NODE_IP} dev eth0",
            f"hostname {self.name}",
        ]

    def host_mounts(self):
        """A host program's mounts: the volumes over the host's own filesystem."""
        lines, overlaid, last = [], set(), []
        for mount in self.container.get("volumeMounts", []):
            source = os.path.join(self.dir, "volumes", mount["name"], mount.get("subPath", ""))
            path = os.path.realpath(mount["mountPath"])
            if self.holds_own_files(path):
                # A volume over a directory holding this pod's own files or program (the stack
                # under /tmp in a fresh clone, an emptyDir at /tmp): an overlay whose writes go to
                # the volume, so that what the pod needs stays visible; mounted last, as no
                # other overlay's upper directory may live on an overlay.
                work = os.path.join(self.dir, "overlay-work", mount["name"])
                os.makedirs(work, exist_ok=True)
                last.append(f"mount -t overlay overlay -o lowerdir={path},upperdir={source},workdir={work} {path}")
                continue
            if not os.path.exists(path):
                top = "/" + path.strip("/").split("/")[0]
                if top not in overlaid:
                    layer = os.path.join(self.dir, "overlay", top.strip("/"))
                    os.makedirs(os.path.join(layer, "upper"), exist_ok=True)
                    os.makedirs(os.path.join(layer, "work"), exist_ok=True)
                    lines.append(f"mount -t overlay overlay -o lowerdir={top},upperdir={layer}/upper,"
                                 f"workdir={layer}/work {top}")
                    overlaid.add(top)
                lines.append(f"mkdir -p {path}" if os.path.isdir(source) else f"mkdir -p {os.path.dirname(path)}; touch {path}")
            lines.append(f"mount --bind {source} {path}")
            if mount.get("readOnly"):
                lines.append(f"mount -o remount,bind,ro {path}")
        return lines + last

    def holds_own_files(self, path):
        """Whether `path` is this pod's directory, its program or a directory above either."""
        own = [self.dir] + [os.path.realpath(p) for p in self.program[:1] if os.path.isabs(p)]
        return any(o == path or o.startswith(path.rstrip("/") + "/") for o in own)

    def start_process(self):
        program = [expand(a, self.env) for a in self.program]
        os.makedirs(self.dir, exist_ok=True)
        if self.image:
            self.fresh_root()
        output = open(os.path.join(self.dir, "container.log"), "ab")  # noqa: SIM115 - the child owns it
        self.process = subprocess.Popen(
            ["unshare", "--net", "--mount", "--uts", "--", "sh", "-c", self.launcher(), "sh", *program],
            env={"PATH": PATH} if self.image else self.env, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        output.close()
        write(os.path.join(self.dir, "container"), self.container["name"].encode())
        write(os.path.join(self.dir, "pid"), str(self.process.pid).encode())
        self.await_own_network()
        veth = f"vh{self.ip.rsplit('.', 1)[1]}"
        subprocess.run(["ip", "link", "del", veth], capture_output=True, check=False)
        for command in (["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", str(self.process.pid)],
                        ["ip", "link", "set", veth, "up"],
                        ["ip", "route", "replace", f"{self.ip}/32", "dev", veth, "src", NODE_IP]):
            subprocess.run(command, check=True, capture_output=True)
        self.started_at = now()

    def await_own_network(self):
        """Until `unshare` has entered its new network namespace: a veth moved into the process's
        namespace before that lands in ours, and the launcher waits for eth0 forever (seen: one
        of two replicas started together never ran)."""
        ours = os.readlink("/proc/self/ns/net")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if os.readlink(f"/proc/{self.process.pid}/ns/net") != ours:
                    return
            except OSError:
                return  # exited already: its status says why
            time.sleep(0.005)

    def fresh_root(self):
        """A new container's writable layer (empty, as after a restart a new container has), its
        environment for enter.py and the pod's /etc/hosts."""
        for part in ("rootfs-upper", "rootfs-work"):
            shutil.rmtree(os.path.join(self.dir, part), ignore_errors=True)
            os.makedirs(os.path.join(self.dir, part))
        os.makedirs(os.path.join(self.dir, "rootfs"), exist_ok=True)
        descriptor = os.open(os.path.join(self.dir, "env.json"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as f:
            json.dump(self.env, f)
        write(os.path.join(self.dir, "hosts"), f"127.0.0.1\tlocalhost\n{self.ip}\t{self.name}\n".encode())

    def stop_process(self):
        process = self.process
        if process is None or process.poll() is not None:
            return
        grace = self.pod["metadata"].get("deletionGracePeriodSeconds",
                                         self.pod["spec"].get("terminationGracePeriodSeconds", 30))
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(max(grace, 0))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def supervise(self):
        """Runs the container until the pod is deleted: probes, status, restarts with back-off."""
        readiness = Probe(self.container.get("readinessProbe"), self)
        liveness = Probe(self.container.get("livenessProbe"), self)
        while not self.deleting.is_set() and not self.runner.stopping.is_set():
            self.start_process()
            readiness.reset()
            liveness.reset()
            self.ready = readiness.spec is None
            self.report()
            while not self.deleting.is_set() and not self.runner.stopping.is_set() and self.process.poll() is None:
                if time.time() >= min((t for t, *_ in self.token_refresh), default=float("inf")):
                    for _, target, spec in list(self.token_refresh):
                        self.write_token(target, spec)
                ready = readiness.step(default=True)
                if liveness.step(default=True) is False:
                    log(f"{self.ns}/{self.name}: liveness probe failed; restarting")
                    self.stop_process()
                    break
                if ready is not None and ready != self.ready:
                    self.ready = ready
                    self.report()
                self.deleting.wait(0.1)
            if self.deleting.is_set() or self.runner.stopping.is_set():
                break
            code = self.process.wait()
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(self.dir, "pid"))
            self.restarts += 1
            self.ready = False
            self.last_state = {"terminated": {"exitCode": code, "reason": "Error" if code else "Completed",
                                              "startedAt": self.started_at, "finishedAt": now()}}
            backoff = min(10 * 2 ** (self.restarts - 1), 300)
            log(f"{self.ns}/{self.name}: exited with {code}; restart {self.restarts} in {backoff}s")
            self.report_waiting("CrashLoopBackOff",
                                f"back-off {backoff}s restarting failed container={self.container['name']} pod={self.name}")
            self.deleting.wait(backoff)

    # --- status -----------------------------------------------------------------------------

    def container_status(self, state, ready):
        image_id = f"{'/'.join(oci.parse(self.container['image'])[:2])}@{self.image.digest}" if self.image else ""
        return {"name": self.container["name"], "image": self.container["image"],
                "imageID": image_id, "containerID": f"pod-runner://{self.process.pid}" if self.process else None,
                "ready": ready, "started": "running" in state, "restartCount": self.restarts,
                "state": {"running": None, "waiting": None, "terminated": None, **state},
                "lastState": self.last_state or {}}

    def report(self):
        self.patch_status("Running", self.container_status({"running": {"startedAt": self.started_at}}, self.ready),
                          self.ready)

    def report_waiting(self, reason, message):
        self.patch_status("Running" if self.restarts else "Pending",
                          self.container_status({"waiting": {"reason": reason, "message": message}}, False), False)

    def patch_status(self, phase, container, ready):
        started = self.pod.get("status", {}).get("startTime") or now()
        conditions = {"PodScheduled": True, "Initialized": True, "ContainersReady": ready, "Ready": ready}
        status = pod_status(phase, self.ip, started, [self.condition(t, ok) for t, ok in conditions.items()], container)
        key = json.dumps({**status, "conditions": [(c["type"], c["status"]) for c in status["conditions"]]}, sort_keys=True)
        if key == self.reported:
            return
        answer = self.api.request("PATCH", f"{self.path}/status", {"status": status},
                                  content_type="application/merge-patch+json", ok=(200, 404))
        if answer and answer.get("kind") == "Pod":
            self.pod = answer
            self.reported = key

    def condition(self, type_, ok):
        """The condition, keeping its lastTransitionTime while its status stays."""
        status = "True" if ok else "False"
        previous = next((c for c in self.pod.get("status", {}).get("conditions", []) if c["type"] == type_), None)
        since = previous["lastTransitionTime"] if previous and previous["status"] == status else now()
        return condition(type_, ok, since)


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as out:
        out.write(data)


class Runner:
    """Lists the watched namespaces' pods every 0.2 s and keeps one `Pod` thread per pod."""

    def __init__(self, namespaces, images, stack_dir, node):
        self.namespaces, self.images, self.stack_dir, self.node = namespaces, images, stack_dir, node
        self.image_cache = os.path.join(stack_dir, "images")
        self.api = Api(stack_dir)
        self.pods = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    def forget(self, uid):
        with self.lock:
            self.pods.pop(uid, None)

    def sync(self):
        seen = set()
        for ns in self.namespaces:
            listing = self.api.get_opt(f"/api/v1/namespaces/{ns}/pods")
            for pod in (listing or {}).get("items", []):
                node = pod["spec"].get("nodeName")
                if node not in (None, self.node) or pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
                    continue
                uid = pod["metadata"]["uid"]
                seen.add(uid)
                with self.lock:
                    worker = self.pods.get(uid)
                    if worker is None and not pod["metadata"].get("deletionTimestamp"):
                        worker = self.pods[uid] = Pod(self, pod)
                        worker.start()
                if worker is not None:
                    worker.update(pod)
        with self.lock:
            gone = [w for uid, w in self.pods.items() if uid not in seen]
        for worker in gone:  # removed without a graceful deletion we saw: stop at once
            worker.pod["metadata"]["deletionGracePeriodSeconds"] = 0
            worker.deleting.set()

    def run(self):
        while not self.stopping.is_set():
            try:
                self.sync()
            except (httpx.HTTPError, RuntimeError) as e:
                log(f"listing pods: {e}")
            self.stopping.wait(0.2)
        with self.lock:
            workers = list(self.pods.values())
        for worker in workers:
            worker.pod["metadata"]["deletionGracePeriodSeconds"] = 5
            worker.stop_process()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--namespace", action="append", required=True, help="a namespace whose pods to run")
    parser.add_argument("--image", action="append", default=[],
                        help="IMAGE=PATH: run the host's PATH for that image instead of pulling it")
    args = parser.parse_args()
    images = dict(item.split("=", 1) for item in args.image)
    runner = Runner(args.namespace, images, os.environ["KMCP_STACK_DIR"], os.environ.get("KMCP_NODE_NAME", "e2e-node"))
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: runner.stopping.set())
    log(f"running the pods of {', '.join(args.namespace)} on {runner.node}")
    runner.run()


if __name__ == "__main__":
    main()

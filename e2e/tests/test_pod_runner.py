"""The pod runner (e2e/stack/pod_runner.py) does what a kubelet does for the pods the end-to-end
tests rely on: env resolution, volumes, an in-cluster identity from the TokenRequest API, its
own network namespace and hostname, probes, restarts with CrashLoopBackOff, graceful deletion."""

import json
import os
import re

from support.stack import is_ready, kubectl, pid_of
from support.wait import eventually

SHELL_IMAGE = "registry.invalid/shell:1"
STACK_DIR = os.environ["KMCP_STACK_DIR"]


def run_pod(namespace, name, script, **extra):
    container = {"name": "main", "image": SHELL_IMAGE, "command": ["sh", "-c", script]}
    container.update(extra.pop("container", {}))
    kubectl("apply", "-f", "-", stdin=json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
        "spec": {"containers": [container], **extra}}))


def pod(namespace, name):
    return json.loads(kubectl("get", "pod", name, "-n", namespace, "-o", "json"))


def log_of(p, finished=False):
    meta = p["metadata"]
    base = f"{meta['namespace']}_{meta['name']}_{meta['uid']}"
    path = os.path.join(STACK_DIR, "pod-logs", base + ".log") if finished else \
        os.path.join(STACK_DIR, "pods", base, "container.log")
    with open(path) as f:
        return f.read()


def test_env_volumes_identity_network_and_readiness(ns):
    kubectl("create", "configmap", "settings", "-n", ns, "--from-literal=greeting=hello")
    kubectl("create", "secret", "generic", "creds", "-n", ns, "--from-literal=password=s3cret")
    script = """
echo "A=$A B=$B POD=$POD NS=$NS NODE=$NODE IP=$IP PASSWORD=$PASSWORD GREETING=$GREETING"
echo "FILE=$(cat /etc/runner-test/greeting)"
echo "HOST=$(hostname)"
echo "ETH0=$(ip -4 -o addr show eth0 | awk '{print $4}')"
sa=/var/run/secrets/kubernetes.io/serviceaccount
echo "SANS=$(cat $sa/namespace)"
curl -s --cacert $sa/ca.crt -H "Authorization: Bearer $(cat $sa/token)" \
  https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT/api/v1/namespaces/$NS/secrets | tr -d '\\n'; echo
exec python3 -m http.server 9000
"""
    env = [{"name": "A", "value": "x"}, {"name": "B", "value": "$(A)-y"},
           {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
           {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
           {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
           {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
           {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}},
           {"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "greeting"}}}]
    run_pod(ns, "probe", script, volumes=[{"name": "cfg", "configMap": {"name": "settings"}}], container={
        "env": env, "volumeMounts": [{"name": "cfg", "mountPath": "/etc/runner-test", "readOnly": True}],
        "readinessProbe": {"tcpSocket": {"port": 9000}, "periodSeconds": 1}})
    p = eventually("the pod Ready", lambda: (p := pod(ns, "probe")) and is_ready(p) and p)
    ip, node = p["status"]["podIP"], p["spec"]["nodeName"]
    assert p["status"]["phase"] == "Running" and p["status"]["containerStatuses"][0]["ready"]
    out = eventually("the report", lambda: "SANS=" in (text := log_of(p)) and "\n{" in text and text)
    assert f"A=x B=x-y POD=probe NS={ns} NODE={node} IP={ip} PASSWORD=s3cret GREETING=hello" in out
    assert "FILE=hello" in out and "HOST=probe" in out and f"ETH0={ip}/32" in out and f"SANS={ns}" in out
    # The projected token authenticates the pod's ServiceAccount, which may not read Secrets.
    assert f"system:serviceaccount:{ns}:default" in out and re.search(r'"code":\s*403', out)
    assert not os.path.exists("/etc/runner-test"), "the mount stays inside the pod's mount namespace"


def test_a_crashing_container_is_restarted_with_back_off(ns):
    run_pod(ns, "crasher", "echo starting; exit 3")

    def crash_looping():
        status = pod(ns, "crasher")["status"]["containerStatuses"][0]
        waiting = status["state"].get("waiting") or {}
        return status["restartCount"] >= 1 and waiting.get("reason") == "CrashLoopBackOff" and status
    status = eventually("CrashLoopBackOff", crash_looping, seconds=30)
    assert status["lastState"]["terminated"]["exitCode"] == 3 and not status["ready"]


def test_deletion_sends_sigterm_then_sigkill_after_the_grace_period(ns):
    run_pod(ns, "polite", "trap 'echo got TERM; exit 0' TERM; echo up; while :; do sleep 0.1; done")
    run_pod(ns, "stubborn", "trap 'echo ignoring TERM' TERM; echo up; while :; do sleep 0.1; done",
            terminationGracePeriodSeconds=1)
    pods = {name: eventually(f"{name} running", lambda n=name: (p := pod(ns, n)) and is_ready(p) and p)
            for name in ("polite", "stubborn")}
    for p in pods.values():
        eventually("the script started", lambda p=p: "up" in log_of(p))
    pids = {name: pid_of(p) for name, p in pods.items()}
    kubectl("delete", "pod", "polite", "stubborn", "-n", ns, "--wait=true", "--timeout=60s")
    assert "got TERM" in log_of(pods["polite"], finished=True)
    assert "ignoring TERM" in log_of(pods["stubborn"], finished=True)
    for pid in pids.values():
        assert not os.path.exists(f"/proc/{pid}")

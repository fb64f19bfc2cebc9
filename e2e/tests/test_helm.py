"""helm_install, helm_list and helm_uninstall with the official MCP SDK against the stack's
apiserver and the stack's helm: a chart served by a chart repository on loopback (`helm package`
+ `helm repo index` + Python's http.server over TLS, the test's CA handed to the server as
SSL_CERT_FILE), installed from the repository and from a local path with values that show up in
the objects; uninstalled by helm and, with helm off PATH, by the server itself, each leaving the
object annotated `helm.sh/resource-policy: keep`; and every refusal (no helm, a path outside
local_chart_dirs, http://, allowed_registries, denied_resources, no writable TMPDIR). An OCI
reference is installed from a distribution registry over TLS that `helm push` filled."""

import functools
import http.server
import os
import shutil
import ssl
import subprocess
import threading
import urllib.request

import pytest
import yaml

from support.net import free_port, make_certificate
from support.server import bearer, session, text
from support.stack import kubectl
from support.wait import eventually
from test_auth import World, binding, mcp_session, token
from test_auth import apply as apply_manifest

pytestmark = pytest.mark.anyio

HELM = shutil.which("helm", path=os.environ.get("KMCP_BIN", ""))
REGISTRY = shutil.which("registry", path=os.environ.get("KMCP_BIN", ""))

CHART = {
    "Chart.yaml": "apiVersion: v2\nname: greeter\nversion: 0.1.0\nappVersion: '1.0'\n",
    "values.yaml": "greeting: hello\n",
    "templates/greeting.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-greeting\n"
        "data:\n  greeting: {{ .Values.greeting | quote }}\n"
    ),
    "templates/kept.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-kept\n"
        "  annotations:\n    helm.sh/resource-policy: keep\ndata:\n  greeting: {{ .Values.greeting | quote }}\n"
    ),
}


def write_chart(directory):
    for name, content in CHART.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(content)
    return directory


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def repository(tmp_path):
    """An HTTPS chart repository on loopback holding greeter 0.1.0: (url, CA file)."""
    chart = write_chart(tmp_path / "src" / "greeter")
    served = tmp_path / "served"
    served.mkdir()
    env = {**os.environ, "HOME": str(tmp_path)}
    subprocess.run([HELM, "package", str(chart), "-d", str(served)], check=True, capture_output=True, env=env)
    ca, cert, key = make_certificate(tmp_path, "127.0.0.1")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(served)))
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    url = f"https://127.0.0.1:{httpd.server_address[1]}"
    subprocess.run([HELM, "repo", "index", str(served), "--url", url], check=True, capture_output=True, env=env)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield url, ca
    httpd.shutdown()


@pytest.fixture
def oci_registry(tmp_path):
    """A distribution registry over TLS on loopback holding greeter 0.1.0, put there by `helm
    push`: (the chart's oci:// reference, CA file)."""
    tls_dir = tmp_path / "oci-tls"
    tls_dir.mkdir()
    ca, cert, key = make_certificate(tls_dir, "127.0.0.1")
    address = f"127.0.0.1:{free_port()}"
    settings = tmp_path / "registry.yaml"
    settings.write_text(yaml.safe_dump({
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(tmp_path / "oci")}},
        "http": {"addr": address, "tls": {"certificate": str(cert), "key": str(key)}},
    }))
    registry = subprocess.Popen([REGISTRY, "serve", str(settings)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    try:
        trust = ssl.create_default_context(cafile=str(ca))

        def answers():
            try:
                return urllib.request.urlopen(f"https://{address}/v2/", context=trust, timeout=2).status == 200
            except OSError:
                return False
        eventually("the TLS registry answers", answers, seconds=30)
        packaged = tmp_path / "packaged"
        env = {**os.environ, "HOME": str(tmp_path)}
        subprocess.run([HELM, "package", str(write_chart(tmp_path / "oci-src" / "greeter")), "-d", str(packaged)],
                       check=True, capture_output=True, env=env)
        subprocess.run([HELM, "push", str(packaged / "greeter-0.1.0.tgz"), f"oci://{address}/charts",
                        "--ca-file", str(ca)], check=True, capture_output=True, env=env)
        yield f"oci://{address}/charts/greeter", ca
    finally:
        registry.terminate()
        registry.wait(10)


def server_env(ca, helm_on_path=True):
    env = {**os.environ, "SSL_CERT_FILE": str(ca)}
    if not helm_on_path:
        helm_dir = os.path.dirname(HELM)
        env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if p != helm_dir)
    return env


def config(tmp_path, body):
    path = tmp_path / "config.toml"
    path.write_text(body)
    return ["--config", str(path), "--toolsets", "helm"]


def greeting(namespace, name):
    return kubectl("get", "configmap", name, "-n", namespace, "-o", "jsonpath={.data.greeting}")


def configmaps(namespace):
    return set(kubectl("get", "configmaps", "-n", namespace, "-o", "name").split())


async def test_install_from_a_repository_and_a_path_list_and_uninstall_keeping_resources(namespace, repository, tmp_path):
    url, ca = repository
    charts = tmp_path / "charts"
    local = write_chart(charts / "greeter")
    args = config(tmp_path, f"[toolset_configs.helm]\nlocal_chart_dirs = [{str(charts)!r}]\n")
    async with session("stdio", *args, env=server_env(ca)) as s:
        installed = await s.call_tool("helm_install", {"chart": "greeter", "repo": url, "namespace": namespace,
                                                       "values": {"greeting": "from the repository"}})
        assert not installed.is_error, text(installed)
        [release] = yaml.safe_load(text(installed))
        generated = release["name"]
        assert generated.startswith("greeter-"), release
        assert (release["namespace"], release["chart"], release["chartVersion"], release["status"]) == \
            (namespace, "greeter", "0.1.0", "deployed")
        assert greeting(namespace, f"{generated}-greeting") == "from the repository"

        installed = await s.call_tool("helm_install", {"chart": str(local), "name": "local", "namespace": namespace,
                                                       "values": {"greeting": "from a path"}})
        assert not installed.is_error, text(installed)
        assert greeting(namespace, "local-greeting") == "from a path"

        listed = yaml.safe_load(text(await s.call_tool("helm_list", {"namespace": namespace})))
        assert sorted(r["name"] for r in listed) == sorted([generated, "local"])

        gone = await s.call_tool("helm_uninstall", {"name": "local", "namespace": namespace})
        assert not gone.is_error, text(gone)
        assert "local-kept" in text(gone), text(gone)
    assert "configmap/local-greeting" not in configmaps(namespace)
    assert greeting(namespace, "local-kept") == "from a path"

    # Without helm, the server uninstalls by itself, with the same resource policy.
    async with session("stdio", *args, env=server_env(ca, helm_on_path=False)) as s:
        no_helm = await s.call_tool("helm_install", {"chart": "greeter", "repo": url, "namespace": namespace})
        assert no_helm.is_error and "needs the helm program" in text(no_helm), text(no_helm)
        gone = await s.call_tool("helm_uninstall", {"name": generated, "namespace": namespace})
        assert not gone.is_error, text(gone)
        assert "without helm" in text(gone) and f"[ConfigMap] {generated}-kept" in text(gone), text(gone)
        listed = text(await s.call_tool("helm_list", {"namespace": namespace}))
    assert listed == "No Helm releases found"
    assert f"configmap/{generated}-greeting" not in configmaps(namespace)
    assert greeting(namespace, f"{generated}-kept") == "from the repository"


async def test_install_from_an_oci_registry_within_allowed_registries(namespace, oci_registry, tmp_path):
    reference, ca = oci_registry
    registry = reference.removesuffix("/greeter")
    args = config(tmp_path, f'[toolset_configs.helm]\nallowed_registries = ["{registry}"]\n')
    async with session("stdio", *args, env=server_env(ca)) as s:
        installed = await s.call_tool("helm_install", {"chart": f"{reference}:0.1.0", "name": "oci",
                                                       "namespace": namespace, "values": {"greeting": "from oci"}})
        assert not installed.is_error, text(installed)
        [release] = yaml.safe_load(text(installed))
        assert (release["name"], release["chart"], release["chartVersion"], release["status"]) == \
            ("oci", "greeter", "0.1.0", "deployed"), release
        elsewhere = await s.call_tool("helm_install", {"chart": reference.replace("/charts/", "/other/"),
                                                       "namespace": namespace})
        assert elsewhere.is_error and "allowed_registries" in text(elsewhere), text(elsewhere)
    assert greeting(namespace, "oci-greeting") == "from oci"


async def test_disallowed_sources_and_kinds_are_refused(namespace, repository, tmp_path):
    url, ca = repository
    charts = tmp_path / "charts"
    charts.mkdir()
    outside = write_chart(tmp_path / "outside" / "greeter")
    (charts / "link").symlink_to(outside)
    refusals = [
        ("", {"chart": "/etc"}, "none is configured"),
        ("", {"chart": "greeter", "repo": url.replace("https", "http")}, "http:// scheme is blocked"),
        ("", {"chart": "stable/greeter"}, "repository aliases"),
        (f"local_chart_dirs = [{str(charts)!r}]", {"chart": str(outside)}, "outside"),
        (f"local_chart_dirs = [{str(charts)!r}]", {"chart": str(charts / "link")}, "outside"),
        (f"local_chart_dirs = [{str(charts)!r}]", {"chart": "/proc/self/root/etc"}, "outside"),
        ('allowed_registries = ["oci://registry.example.com/charts"]', {"chart": "greeter", "repo": url},
         "does not match any entry in allowed_registries"),
        ('allowed_registries = ["oci://registry.example.com/charts"]', {"chart": str(outside)},
         "only registry URLs from the allowed list"),
    ]
    for settings, arguments, says in refusals:
        args = config(tmp_path, f"[toolset_configs.helm]\n{settings}\n")
        async with session("stdio", *args, env=server_env(ca)) as s:
            refused = await s.call_tool("helm_install", {**arguments, "namespace": namespace})
        assert refused.is_error and says in text(refused), (arguments, text(refused))

    # helm's private directory needs a writable TMPDIR; without one the answer says so.
    async with session("stdio", "--toolsets", "helm", env={**server_env(ca), "TMPDIR": str(tmp_path / "absent")}) as s:
        refused = await s.call_tool("helm_install", {"chart": "greeter", "repo": url, "namespace": namespace})
    assert refused.is_error and "writable temporary directory" in text(refused), text(refused)

    # The allow-list admits its own prefix.
    host = url.removeprefix("https://")
    args = config(tmp_path, f'[toolset_configs.helm]\nallowed_registries = ["https://{host}"]\n')
    async with session("stdio", *args, env=server_env(ca)) as s:
        allowed = await s.call_tool("helm_install", {"chart": "greeter", "repo": url, "name": "allowed",
                                                     "namespace": namespace})
        assert not allowed.is_error, text(allowed)

    # denied_resources holds for what a chart would create, and for an uninstall.
    denied = 'denied_resources = [{group = "", version = "v1", kind = "ConfigMap"}]\n'
    path = tmp_path / "denied.toml"
    path.write_text(denied)
    async with session("stdio", "--config", str(path), "--toolsets", "helm", env=server_env(ca)) as s:
        refused = await s.call_tool("helm_install", {"chart": "greeter", "repo": url, "name": "denied",
                                                     "namespace": namespace})
        assert refused.is_error and "denied_resources" in text(refused), text(refused)
        kept = await s.call_tool("helm_uninstall", {"name": "allowed", "namespace": namespace})
        assert kept.is_error and "denied_resources" in text(kept), text(kept)
    assert "configmap/denied-greeting" not in configmaps(namespace)
    assert greeting(namespace, "allowed-greeting") == "hello"


async def test_an_impersonating_server_installs_as_the_caller(repository, tmp_path):
    """The server's own ServiceAccount may only read; helm installs with the caller's rights."""
    url, ca = repository
    world = World(tmp_path)
    try:
        headers = bearer(token(world.ns, "agent", world.audience))
        install = {"chart": "greeter", "repo": url, "name": "as-agent", "namespace": world.ns}
        with world.server(tmp_path, "--toolsets", "helm", mode="impersonate", env=server_env(ca)) as server:
            async with mcp_session(server.url, "http", headers) as s:
                refused = await s.call_tool("helm_install", install)
                assert refused.is_error and world.agent in text(refused), text(refused)
                apply_manifest(binding("RoleBinding", "agent-edit", world.ns, "ClusterRole", "edit", world.ns, "agent"))
                installed = await s.call_tool("helm_install", install)
                assert not installed.is_error, text(installed)
        assert greeting(world.ns, "as-agent-greeting") == "hello"
    finally:
        world.delete()

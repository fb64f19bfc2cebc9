"""Images in the test stack's registry ($KMCP_REGISTRY), spoken to over the OCI distribution API:
`derive` pushes a copy of an image under another name with its config changed (the layers are
mounted across repositories, not copied), so a test gets, say, the server's image with USER 0.
Does I/O: HTTP to the registry."""

import hashlib
import json
import os
import urllib.request

REGISTRY = os.environ.get("KMCP_REGISTRY", "127.0.0.1:5000")
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def call(method, path, body=None, headers=None):
    request = urllib.request.Request(f"http://{REGISTRY}{path}", data=body, method=method, headers=headers or {})
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - the stack's registry
        return answer.headers, answer.read()


def derive(source, target, **config):
    """Pushes `target` (NAME:TAG) as the image `source` (NAME:TAG) with `config` over its OCI
    config's `config` part (e.g. User="0"); returns the reference to pull."""
    source_name, source_tag = source.split(":")
    name, tag = target.split(":")
    _, body = call("GET", f"/v2/{source_name}/manifests/{source_tag}", headers={"Accept": MANIFEST})
    manifest = json.loads(body)
    _, body = call("GET", f"/v2/{source_name}/blobs/{manifest['config']['digest']}")
    image_config = json.loads(body)
    image_config["config"] = {**image_config.get("config", {}), **config}
    for layer in manifest["layers"]:
        call("POST", f"/v2/{name}/blobs/uploads/?mount={layer['digest']}&from={source_name}")
    blob = json.dumps(image_config).encode()
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    headers, _ = call("POST", f"/v2/{name}/blobs/uploads/")
    location = headers["Location"]
    location = location if location.startswith("http") else f"http://{REGISTRY}{location}"
    separator = "&" if "?" in location else "?"
    urllib.request.urlopen(urllib.request.Request(  # noqa: S310 - the stack's registry
        f"{location}{separator}digest={digest}", data=blob, method="PUT",
        headers={"Content-Type": "application/octet-stream"}), timeout=30).close()
    manifest["config"] = {**manifest["config"], "digest": digest, "size": len(blob)}
    call("PUT", f"/v2/{name}/manifests/{tag}", json.dumps(manifest).encode(), {"Content-Type": MANIFEST})
    return f"{REGISTRY}/{target}"

"""How the pod runner runs a container from an image (e2e/stack/oci.py pulled and unpacked it),
as kubelet + runc would: the program (the image's ENTRYPOINT and CMD, replaced by the
container's command and args the Kubernetes way), the user (the image's USER or the effective
securityContext's runAsUser/runAsGroup, with the pod's supplemental groups and fsGroup), the
kubelet's runAsNonRoot check, and the shell lines that build the pod's root in its mount
namespace: an overlay of the image's root (writes go to the pod's directory; read-only when
readOnlyRootFilesystem is set), /proc, /dev, /sys, /etc/hosts and the volumes mounted into it;
e2e/stack/enter.py then makes it the root and execs the program. Pure: returns values and text;
the pod runner does the I/O."""

import os
import shlex

ENTER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "enter.py")


def effective(pod, container, key):
    """A securityContext field, the container's over the pod's (DetermineEffectiveSecurityContext)."""
    for context in (container.get("securityContext") or {}, pod["spec"].get("securityContext") or {}):
        if context.get(key) is not None:
            return context[key]
    return None


def program(container, image):
    """The argv: command replaces ENTRYPOINT (and drops CMD), args replace CMD."""
    command = container.get("command")
    args = container.get("args")
    if command:
        return [*command, *(args or [])]
    entrypoint = image.config.get("Entrypoint") or []
    return [*entrypoint, *(args if args is not None else image.config.get("Cmd") or [])]


def identity(pod, container, image):
    """(uid, gid, supplementary groups) the container runs as, or raises ValueError with the
    kubelet's message when runAsNonRoot forbids it or the image's user is unknown."""
    meta = pod["metadata"]
    who = f'(pod: "{meta["name"]}_{meta["namespace"]}({meta["uid"]})", container: {container["name"]})'
    image_uid, image_gid, username = image.user()
    run_as_user = effective(pod, container, "runAsUser")
    if effective(pod, container, "runAsNonRoot"):
        if run_as_user == 0:
            raise ValueError(f"container's runAsUser breaks non-root policy {who}")
        if run_as_user is None and image_uid == 0:
            raise ValueError(f"container has runAsNonRoot and image will run as root {who}")
        if run_as_user is None and image_uid is None:
            raise ValueError(f"container has runAsNonRoot and image has non-numeric user ({username}), "
                             f"cannot verify user is non-root {who}")
    uid = run_as_user if run_as_user is not None else image_uid
    if uid is None:
        raise ValueError(f"unable to find user {username}: no matching entries in passwd file")
    gid = effective(pod, container, "runAsGroup")
    if gid is None:
        gid = image_gid if run_as_user is None else image.user_gid(uid)
    if gid is None:
        raise ValueError(f"unable to find group of user {image.config.get('User')}: no matching entries in group file")
    pod_context = pod["spec"].get("securityContext") or {}
    groups = [*pod_context.get("supplementalGroups", []), *([pod_context["fsGroup"]] if "fsGroup" in pod_context else [])]
    return uid, gid, groups


def root_mounts(image, pod_dir, container, volume_dir, read_only):
    """Shell lines that mount the pod's root at `pod_dir/rootfs` and everything into it."""
    root = os.path.join(pod_dir, "rootfs")
    q = shlex.quote
    lines = [
        "mount --make-rprivate /",
        f"mount -t overlay overlay -o lowerdir={image.root},upperdir={pod_dir}/rootfs-upper,"
        f"workdir={pod_dir}/rootfs-work {q(root)}",
        f"mkdir -p {q(root)}/proc {q(root)}/dev {q(root)}/sys {q(root)}/etc",
        f"mount -t proc proc {q(root)}/proc",
        f"mount --rbind /dev {q(root)}/dev",
        f"mount --rbind /sys {q(root)}/sys",
        f"touch {q(root)}/etc/hosts && mount --bind {q(pod_dir)}/hosts {q(root)}/etc/hosts",
    ]
    for mount in container.get("volumeMounts", []):
        source = os.path.join(volume_dir, mount["name"], mount.get("subPath", ""))
        target = q(root + "/" + mount["mountPath"].strip("/"))
        lines.append(f"mkdir -p {target}" if os.path.isdir(source) else f"mkdir -p $(dirname {target}); touch {target}")
        lines.append(f"mount --bind {q(source)} {target}")
        if mount.get("readOnly"):
            lines.append(f"mount -o remount,bind,ro {target}")
    lines.append(f"mkdir -p {q(root)}/{q(workdir(container, image).strip('/'))}")
    if read_only:
        lines.append(f"mount -o remount,bind,ro {q(root)}")
    return lines


def workdir(container, image):
    return container.get("workingDir") or image.config.get("WorkingDir") or "/"


def enter(python, pod_dir, container, image, uid, gid, groups):
    """The launcher's last line: e2e/stack/enter.py with the container's argv as "$@"."""
    no_new_privs = (container.get("securityContext") or {}).get("allowPrivilegeEscalation") is False
    args = [python, ENTER, os.path.join(pod_dir, "rootfs"), os.path.join(pod_dir, "env.json"), workdir(container, image),
            str(uid), str(gid), ",".join(map(str, groups)), "1" if no_new_privs else "0"]
    return "exec " + " ".join(shlex.quote(a) for a in args) + ' "$@"'

"""The last step of a pod runner container started from an image, run inside the pod's mount
namespace once its root is mounted at ROOT: makes ROOT the namespace's root (pivot_root, the old
root detached, as runc does), changes to the working directory, takes the container's user and
groups (and no_new_privs when privilege escalation is not allowed), then execs the program,
found on the PATH of its environment inside the image. Does I/O: system calls, then exec.

  python enter.py ROOT ENV_JSON WORKDIR UID GID GROUPS(comma-separated) NO_NEW_PRIVS(0|1) PROGRAM ARGS...

ENV_JSON holds the container's environment (the image's and the pod's), read before the pivot.
"""

import ctypes
import json
import os
import platform
import sys

# pivot_root(2) has no libc wrapper; its number per architecture.
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}
MNT_DETACH = 2
PR_SET_NO_NEW_PRIVS = 38


def main():
    root, env_file, workdir, uid, gid, groups, no_new_privs, *command = sys.argv[1:]
    with open(env_file) as f:
        env = json.load(f)
    libc = ctypes.CDLL(None, use_errno=True)

    def check(result, what):
        if result != 0:
            errno = ctypes.get_errno()
            sys.exit(f"enter: {what}: {os.strerror(errno)}")

    os.chdir(root)
    check(libc.syscall(SYS_PIVOT_ROOT[platform.machine()], b".", b"."), "pivot_root")
    check(libc.umount2(b".", MNT_DETACH), "detaching the old root")
    os.chdir("/")
    os.chdir(workdir)
    os.setgroups([int(g) for g in groups.split(",") if g])
    os.setgid(int(gid))
    os.setuid(int(uid))
    if no_new_privs == "1":
        check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    try:
        os.execvpe(command[0], command, env)
    except OSError as e:
        # What runc reports for a missing or unrunnable entrypoint; the container then exits 128.
        print(f'exec: "{command[0]}": {e.strerror}', file=sys.stderr, flush=True)
        os._exit(128)


if __name__ == "__main__":
    main()

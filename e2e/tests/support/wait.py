"""Polling until a condition holds. No I/O of its own: it runs whatever `check` does."""

import subprocess
import time

import httpx2 as httpx


def eventually(what, check, seconds=60, interval=0.2):
    """The first truthy result of `check()` within `seconds`, else a failure naming `what`."""
    deadline = time.time() + seconds
    last = None
    while time.time() < deadline:
        try:
            last = check()
        except (subprocess.CalledProcessError, AssertionError, KeyError, httpx.HTTPError) as e:
            last = e
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {seconds}s (last: {last!r})")

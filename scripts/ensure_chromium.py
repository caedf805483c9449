"""Make sure a Chromium for the browser tests exists; install Debian's when we can.

Prints where it is. Where it cannot be installed (no apt-get, not root), it says so
loudly and exits 0: the browser tests then skip with that reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find() -> str | None:
    for name in NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def main() -> None:
    path = find()
    if path:
        print(f"[browser] chromium: {path}")
        return
    apt = shutil.which("apt-get")
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    if apt and is_root:
        print("[browser] installing Debian's chromium with apt-get (one time, ~1-2 min)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run([apt, "update", "-qq"], env=env, check=False)
        subprocess.run([apt, "install", "-y", "-qq", "chromium"], env=env, check=False)
        path = find()
    if path:
        print(f"[browser] chromium: {path}")
    else:
        print(
            "\n" + "!" * 72 + "\n[browser] WARNING: no Chromium and it cannot be installed here "
            "(needs apt-get as root).\n[browser] The browser tests will be SKIPPED. Install "
            "'chromium' with your package manager to run them.\n" + "!" * 72 + "\n"
        )


if __name__ == "__main__":
    main()

"""What an idle bot costs in memory: start `python -m bot`, let it settle, read its resident set.

Every feed points at a closed local port (nothing leaves the host), no chat token is set, and the
database is a fresh SQLite file. Prints the RSS after start-up settles and whether matplotlib was
loaded (it must not be: charts are drawn only on demand).

    .venv/bin/python bench/idle_rss.py [--seconds 20]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fakes.feeds import offline_feeds


def rss_mib(pid: int) -> float:
    """Return the process's resident set in MiB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS line")


def loaded(pid: int, name: str) -> bool:
    """Return True when a shared object or file of `name` is mapped into the process."""
    return name in Path(f"/proc/{pid}/maps").read_text()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.endswith(("_TOKEN", "_URL"))}
        env.update({name.upper(): url for name, url in offline_feeds().items()})
        env.update(DATABASE_URL=f"sqlite:///{tmp}/radar.db", PORT="0", LOG_LEVEL="ERROR")
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot"], cwd=tmp, env=env, stdout=subprocess.DEVNULL
        )
        try:
            samples = []
            deadline = time.monotonic() + args.seconds
            while time.monotonic() < deadline:
                time.sleep(1.0)
                samples.append(rss_mib(proc.pid))
            matplotlib = loaded(proc.pid, "matplotlib")
        finally:
            proc.terminate()
            proc.wait(10)
    print(
        f"idle bot after {args.seconds:.0f} s: RSS {samples[-1]:.0f} MiB "
        f"(max {max(samples):.0f} MiB); matplotlib loaded: {'yes' if matplotlib else 'no'}"
    )


if __name__ == "__main__":
    main()

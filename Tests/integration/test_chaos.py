"""A bounded run of Tools/chaos.py: etcd and three spoold nodes under a seeded nemesis (kill -9,
SIGSTOP, partitions, etcd outages, clock offsets, replaced and corrupted disks, power losses of
one node or all at once on Tools/lazyfs.py) with idempotent producers, readers on every node and
group consumers; its checker must find nothing lost, duplicated, reordered, read dirty,
redelivered or undelivered. Longer runs: Tools/chaos.py --seconds 600 --seed N."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from cluster import Cluster, SPOOLD
from conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "Tools"))
from lazyfs import LazyFS  # noqa: E402

pytestmark = [pytest.mark.spool_only, pytest.mark.slow]

SECONDS = int(os.environ.get("SPOOL_CHAOS_SECONDS", "60"))
SEED = int(os.environ.get("SPOOL_CHAOS_SEED", "3"))


def test_chaos_bounded_run_loses_nothing(tmp_path) -> None:
    problem = Cluster.iptables_problem() or LazyFS.problem()
    assert problem is None, problem
    env = dict(os.environ, SPOOLD=SPOOLD)
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "Tools" / "chaos.py"), "--seconds", str(SECONDS), "--seed", str(SEED),
         "--dir", str(tmp_path / "chaos")],
        capture_output=True, text=True, env=env, timeout=SECONDS + 420)
    lines = proc.stdout.strip().splitlines()
    summary = lines[-1] if lines else ""
    print("\n".join(line for line in lines if not line.startswith("[cluster")))
    match = re.fullmatch(r"chaos: (\d+) faults, (\d+) acknowledged, (\d+) lost, (\d+) duplicated, (\d+) reordered, (\d+) redelivered",
                         summary)
    assert match, f"no summary line; stdout tail:\n{proc.stdout[-3000:]}\nstderr tail:\n{proc.stderr[-3000:]}"
    faults, acked, lost, duplicated, reordered, redelivered = map(int, match.groups())
    assert faults >= SECONDS // 10, f"only {faults} faults in {SECONDS} s"
    assert acked > 1000
    assert (lost, duplicated, reordered, redelivered) == (0, 0, 0, 0)
    seen = re.search(r"entries seen by readers: (.*)", proc.stdout)
    assert seen and all(int(part.split()[1]) > 1000 for part in seen.group(1).split(", ")), \
        f"the readers saw too little for the dirty-read check to mean anything: {seen and seen.group(1)}"
    assert proc.returncode == 0, f"the checker found problems (dirty reads, undelivered entries …):\n{proc.stdout[-3000:]}"

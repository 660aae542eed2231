"""Running the built `spool` command-line tool: found next to spoold ($SPOOL_CLI, or `spool` in the
directory of $SPOOLD, or <repo>/.build/debug/spool)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any, List, Optional

from conftest import REPO_ROOT, SPOOLD

SPOOL = os.environ.get("SPOOL_CLI") or str(Path(SPOOLD).parent / "spool")
if not os.access(SPOOL, os.X_OK):
    SPOOL = str(REPO_ROOT / ".build" / "debug" / "spool")


class Run:
    def __init__(self, proc: subprocess.CompletedProcess) -> None:
        self.code = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    def json(self) -> Any:
        assert self.code == 0, f"exit {self.code}: {self.err}"
        return json.loads(self.out)

    def json_lines(self) -> List[Any]:
        assert self.code == 0, f"exit {self.code}: {self.err}"
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]

    def __repr__(self) -> str:
        return f"<Run exit={self.code} out={self.out[:300]!r} err={self.err[:300]!r}>"


def spool(*args: Any, server: Any = None, stdin: Optional[str] = None, timeout: float = 60) -> Run:
    """Runs `spool args…` (with --port/--password of `server` when given after the subcommand)."""
    argv = [SPOOL] + [str(a) for a in args]
    if server is not None:
        argv += ["--port", str(server.port)]
        if server.password:
            argv += ["--password", server.password]
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout)
    return Run(proc)


def start(*args: Any, server: Any = None) -> subprocess.Popen:
    """Starts `spool args…` in the background (for tail and consume)."""
    argv = [SPOOL] + [str(a) for a in args]
    if server is not None:
        argv += ["--port", str(server.port)]
        if server.password:
            argv += ["--password", server.password]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

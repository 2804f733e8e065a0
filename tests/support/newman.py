"""newman (Postman's command-line runner, from npm) for the collection's run against a real server: the one
`make smoke` installs into .local/newman, installed the same way when missing, or a reason to skip."""
from __future__ import annotations

import shutil
import subprocess

from tests.support.servers import REPO

PREFIX = REPO / ".local" / "newman"
BINARY = PREFIX / "node_modules" / ".bin" / "newman"
# The Makefile's `make smoke` runs the same command (NEWMAN_PACKAGE there).
INSTALL = ["npm", "install", "--prefix", str(PREFIX), "--no-audit", "--no-fund", "--loglevel=error", "newman@6"]


def find_or_install() -> tuple[str | None, str]:
    """(path of newman, "") or (None, why it cannot be had here)."""
    if BINARY.exists():
        return str(BINARY), ""
    if shutil.which("newman"):
        return shutil.which("newman"), ""
    if not shutil.which("npm"):
        return None, "npm is not installed, so newman cannot be (it comes from the npm registry)"
    try:
        done = subprocess.run(INSTALL, cwd=REPO, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        return None, "npm install newman did not finish within 5 minutes (is the npm registry reachable?)"
    if done.returncode != 0 or not BINARY.exists():
        return None, f"npm install newman failed (is the npm registry reachable?): {done.stderr.strip()[-500:]}"
    return str(BINARY), ""

"""Khronos glTF-Validator (npm ``gltf-validator``) run through node, as a test client.

The validator is a library, so a few lines of JavaScript call ``validateBytes`` on each file
and print the reports as JSON.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from tests.support.paths import REPO_ROOT

VALIDATOR_DIR = REPO_ROOT / "tools" / "node" / "node_modules" / "gltf-validator"
_SCRIPT = """
const validator = require(process.argv[1]);
const fs = require('fs');
(async () => {
  const reports = [];
  for (const path of process.argv.slice(2)) {
    const bytes = new Uint8Array(fs.readFileSync(path));
    reports.push(await validator.validateBytes(bytes, {maxIssues: 50}));
  }
  process.stdout.write(JSON.stringify(reports));
})().catch((error) => { console.error(String(error)); process.exit(1); });
"""


def validate_files(paths: list[Path]) -> list[dict]:
    """Validator reports (``issues.numErrors``, ``issues.numWarnings``, ``issues.messages``), one per file."""
    node = shutil.which("node")
    assert node, "node is not installed (see docs/scene.md, tests)"
    assert VALIDATOR_DIR.is_dir(), f"gltf-validator missing: {VALIDATOR_DIR} (run tools/setup_env.sh)"
    result = subprocess.run(
        [node, "-e", _SCRIPT, str(VALIDATOR_DIR), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"gltf-validator failed: {result.stderr}"
    return json.loads(result.stdout)


def problems(report: dict) -> list[str]:
    """Error and warning messages of one report (severity 0 and 1), empty when clean."""
    return [
        f"{message['code']}: {message['message']} at {message.get('pointer', '')}"
        for message in report["issues"]["messages"]
        if message["severity"] <= 1
    ]

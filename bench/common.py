"""What every benchmark script shares: writing its figures as JSON, stamped with the machine."""

import json
import os
import platform
from pathlib import Path
from typing import Any

import torch


def write_json(path: Path, result: dict[str, Any]) -> None:
    """Write `result` to `path` (folders made as needed) with the machine it was measured on."""
    machine = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**result, "machine": machine}, indent=2) + "\n")
    print(f"wrote {path}")

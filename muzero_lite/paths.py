"""The folders that connect the processes: nothing else passes between them."""

import re
from dataclasses import dataclass
from pathlib import Path

from muzero_lite.storage import Location, StoredPath

LOCAL_FOR_STORES = Path("local-runs")
"""Where this machine's own files of a run on a store go, by default: `local-runs/<bucket_path>`
under the working directory (made absolute, so that processes started elsewhere agree)."""


@dataclass(frozen=True)
class DataDirs:
    """games/ (workers write, trainer reads), gifs/, checkpoints/ (trainer writes): on `root`, a
    local folder or a store; runs/ (metrics, TensorBoard), logs/, eval/ and progress.png: on this
    machine's disk, in `local` (see `local`)."""

    root: Location
    local_root: Path | None = None

    @property
    def games(self) -> Location:
        return self.root / "games"

    @property
    def gifs(self) -> Location:
        return self.root / "gifs"

    @property
    def checkpoints(self) -> Location:
        return self.root / "checkpoints"

    @property
    def local(self) -> Path:
        """`local_root` where given, else the data folder itself when it is local, and
        `local-runs/<bucket_path>` for a store."""
        if self.local_root is not None:
            return self.local_root
        if isinstance(self.root, StoredPath):
            return (LOCAL_FOR_STORES / re.sub(r"[^A-Za-z0-9._-]", "_", self.root.path)).resolve()
        return self.root

    @property
    def runs(self) -> Path:
        return self.local / "runs"

"""The folders that connect the processes: nothing else passes between them."""

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DataDirs:
    """games/ (workers write, trainer reads), gifs/, checkpoints/ (trainer writes), runs/ (logs)."""

    root: Path

    @property
    def games(self) -> Path:
        return self.root / "games"

    @property
    def gifs(self) -> Path:
        return self.root / "gifs"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

"""Retention: keep games/ and gifs/ under a file count and a size, deleting the oldest first.

File names start with the time they were written, so the oldest sort first. Only finished files
directly in the folder count: hidden temporary files of writes in progress and subfolders
(games/quarantine/, gifs/best/, gifs/eval/) are never touched. Several workers may prune one folder
at once; a file that another process deleted first is simply skipped.
"""

from muzero_lite.storage import Location

MB = 1_000_000


def prune_oldest(
    folder: Location, pattern: str, *, keep: int = 0, max_mb: float = 0.0
) -> list[Location]:
    """Delete the oldest `pattern` files beyond the newest `keep` or beyond `max_mb` in total.

    0 means no limit. The newest file is always kept, so a size limit below one file's size keeps
    exactly that file. Returns the files this call deleted.
    """
    if keep <= 0 and max_mb <= 0:
        return []
    newest_first = sorted(
        (p for p in folder.glob(pattern) if not p.name.startswith(".")), reverse=True
    )
    kept, total = 0, 0
    doomed: list[Location] = []
    for path in newest_first:
        try:
            size = path.stat().st_size
        except FileNotFoundError:  # another worker pruned it first
            continue
        over_count = keep > 0 and kept >= keep
        over_size = max_mb > 0 and kept >= 1 and total + size > max_mb * MB
        if over_count or over_size or doomed:  # once one file goes, every older one goes too
            doomed.append(path)
        else:
            kept, total = kept + 1, total + size
    deleted = []
    for path in doomed:
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        deleted.append(path)
    return deleted

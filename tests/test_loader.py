"""The trainer's game loader: each game once, bad files quarantined with a reason."""

from conftest import make_record

from muzero_lite.games import save_game
from muzero_lite.loader import GameLoader


def test_each_game_is_loaded_exactly_once(tmp_path):
    save_game(make_record(), tmp_path, "20260101-000000-w00-a")
    loader = GameLoader(tmp_path, log=lambda _: None)
    assert [g.path.name for g in loader.poll()] == ["20260101-000000-w00-a.npz"]
    assert loader.poll() == []
    save_game(make_record(), tmp_path, "20260101-000001-w00-b")
    assert [g.path.name for g in loader.poll()] == ["20260101-000001-w00-b.npz"]
    assert loader.loaded == 2


def test_bad_files_are_quarantined_with_a_reason_and_loading_goes_on(tmp_path):
    lines = []
    (tmp_path / "20260101-000000-w00-bad.npz").write_bytes(b"not a zip")
    save_game(make_record(), tmp_path, "20260101-000001-w00-good")
    loader = GameLoader(tmp_path, log=lines.append)
    assert [g.path.name for g in loader.poll()] == ["20260101-000001-w00-good.npz"]
    quarantine = tmp_path / "quarantine"
    assert (quarantine / "20260101-000000-w00-bad.npz").exists()
    reason = (quarantine / "20260101-000000-w00-bad.npz.reason.txt").read_text()
    assert "not a readable .npz file" in reason
    assert len(lines) == 1 and lines[0].startswith(
        "[train] quarantined 20260101-000000-w00-bad.npz:"
    )
    assert loader.quarantined == 1 and loader.poll() == []


def test_refill_takes_the_newest_games_up_to_a_transition_budget(tmp_path):
    for i in range(5):
        save_game(make_record(length=3), tmp_path, f"20260101-00000{i}-w00-x")
    loader = GameLoader(tmp_path, log=lambda _: None)
    games = loader.refill(transitions=6)
    assert [g.path.name[:15] for g in games] == ["20260101-000003", "20260101-000004"]
    assert loader.poll() == []  # older games are never loaded later

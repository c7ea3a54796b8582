"""A stop request survives a KeyboardInterrupt that Python drops inside a destructor."""

import signal
import subprocess
import sys
import time

import pytest
from conftest import CHILD_ENV, CHILDREN, REPO, entry_command


def test_an_interrupt_dropped_in_a_destructor_is_raised_again_by_check():
    result = subprocess.run(
        [sys.executable, str(CHILDREN / "dropped_interrupt.py")],
        cwd=REPO,
        env=CHILD_ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "Exception ignored" in result.stderr  # Python did drop the first one
    assert result.stdout.splitlines() == [
        "ran on past the dropped interrupt",
        "check raised it again",
    ]


def test_an_error_raised_while_stopping_still_exits_cleanly():
    # A library interrupted mid-call may fail in its own clean-up and replace the interrupt.
    result = subprocess.run(
        [sys.executable, str(CHILDREN / "failing_cleanup.py")],
        cwd=REPO,
        env=CHILD_ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr  # a stop: the ValueError would exit with 1


@pytest.mark.parametrize("script", ["train.py", "selfplay.py", "launch.py"])
def test_a_ctrl_c_while_the_libraries_still_load_is_a_clean_stop(tmp_path, script):
    # torch takes seconds to import; the launcher stops its children at any moment of that.
    process = subprocess.Popen(
        entry_command(script, tmp_path),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert not any(tmp_path.iterdir())  # stopped before it began: no games, logs or runs

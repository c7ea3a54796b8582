"""A stop request survives a KeyboardInterrupt that Python drops inside a destructor."""

import signal
import subprocess
import sys
import textwrap
import time

import pytest
from conftest import REPO

SCRIPT = textwrap.dedent(
    """
    import os, signal
    from muzero_lite import interrupts

    class SignalsWhileCollected:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGINT)  # the handler runs here, and Python drops it

    interrupts.install()
    SignalsWhileCollected()
    print("ran on past the dropped interrupt", flush=True)
    try:
        interrupts.check()
    except KeyboardInterrupt:
        print("check raised it again", flush=True)
    """
)


def test_an_interrupt_dropped_in_a_destructor_is_raised_again_by_check():
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "Exception ignored" in result.stderr  # Python did drop the first one
    assert result.stdout.splitlines() == [
        "ran on past the dropped interrupt",
        "check raised it again",
    ]


def test_an_error_raised_while_stopping_still_exits_cleanly():
    # A library interrupted mid-call may fail in its own clean-up and replace the interrupt.
    script = textwrap.dedent(
        """
        import os, signal
        from muzero_lite.cli import run_entry

        def main():
            try:
                os.kill(os.getpid(), signal.SIGINT)
            finally:
                raise ValueError("clean-up failed")

        run_entry(main)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "stopped;" in result.stdout


@pytest.mark.parametrize("script", ["train.py", "selfplay.py", "launch.py"])
def test_a_ctrl_c_while_the_libraries_still_load_is_a_clean_stop(tmp_path, script):
    # torch takes seconds to import; the launcher stops its children at any moment of that.
    command = [sys.executable, script, "--config", "configs/cartpole.toml"]
    process = subprocess.Popen(
        [*command, "--data-dir", str(tmp_path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "stopped;" in out and "Traceback" not in err

"""The rules that keep ``pytest -m "not slow"`` a fast unit loop (they live in conftest.py)."""

import shutil
import subprocess
import sys

import pytest


def test_a_test_not_marked_slow_cannot_start_an_interpreter():
    with pytest.raises(AssertionError, match="mark the test @pytest.mark.slow"):
        subprocess.run([sys.executable, "-c", "pass"])
    with pytest.raises(AssertionError, match="mark the test @pytest.mark.slow"):
        subprocess.Popen(["python3", "-c", "pass"])


@pytest.mark.skipif(shutil.which("true") is None, reason="no `true` command")
def test_small_tools_stay_allowed():
    assert subprocess.run(["true"]).returncode == 0


@pytest.mark.slow
def test_a_slow_test_may(tmp_path):
    assert subprocess.run([sys.executable, "-c", "pass"], cwd=str(tmp_path)).returncode == 0


"""The command line: one-line errors, exit codes, `data` and `backbones`."""

from __future__ import annotations

import subprocess
import sys

import pytest

from transferlab.cli.main import main


def test_data_prints_the_mnist_summary(mnist_dir, capsys):
    assert main(["data", "--path", str(mnist_dir)]) == 0
    out = capsys.readouterr().out
    assert "train   60000     28x28x1   0:5923 1:6742" in out
    assert "test    10000     28x28x1   0:980 1:1135" in out


def test_unknown_flag_is_one_line_and_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["data", "--bogus"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "unrecognized arguments: --bogus" in err


def test_bad_choice_is_one_line(capsys):
    with pytest.raises(SystemExit):
        main(["data", "--dataset", "cifar"])
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "invalid choice: 'cifar'" in err


def test_library_error_is_one_line_without_traceback(capsys):
    assert main(["data", "--dataset", "idx"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "transferlab: error: dataset='idx' needs a folder. "
        "Fix: pass --path DIR (in a config file: data.path).\n"
    )


def test_missing_mnist_folder_is_an_error_naming_the_files(tmp_path, capsys):
    assert main(["data", "--path", str(tmp_path), "--no-download"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("transferlab: error: MNIST files are missing") and "Traceback" not in err
    assert "  Received: missing train-images-idx3-ubyte.gz" in err


def test_backbones_lists_the_registry(capsys):
    assert main(["backbones"]) == 0
    out = capsys.readouterr().out
    for name in ("alexnet", "vgg16", "inception_v3"):
        assert f"\n{name} " in out
    assert "block1 block2 block3 block4 block5" in out


def test_python_dash_m_runs_the_cli():
    result = subprocess.run(
        [sys.executable, "-m", "transferlab", "--version"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0
    assert result.stdout.startswith("transferlab ")


def test_unknown_flag_of_a_command_points_at_that_commands_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--bogus"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (
        "transferlab train: error: unrecognized arguments: --bogus (see `transferlab train --help`)\n"
    )


def test_ctrl_c_while_the_command_starts_is_one_line_and_exit_130():
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    from transferlab.errors import INTERRUPTED

    command = Path(sys.executable).parent / "transferlab"
    if not command.is_file():
        import pytest

        pytest.skip("the transferlab command is not installed beside this Python")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.Popen(
        [str(command), "backbones"], stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )
    time.sleep(0.8)  # Python is up; TensorFlow is still loading (it takes seconds)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    # Python ends an interrupted start-up by SIGINT itself: a shell reports 130 (128 + 2)
    assert proc.returncode in (130, -signal.SIGINT)
    assert err.strip().splitlines() == [INTERRUPTED], err

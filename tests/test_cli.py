import subprocess
import sys

import pytest

from alignkit import cli


def test_doctor_reports_a_healthy_install(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "plotly FigureWidget" in out and "ok" in out
    assert "torch" in out and "device" in out
    assert "Everything looks fine" in out


def test_doctor_names_a_missing_package(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = cli._version
    monkeypatch.setattr(cli, "_version", lambda name: None if name == "anywidget" else real(name))
    assert cli.main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert (
        "PROBLEM: anywidget is not installed" in out and "next step: pip install anywidget" in out
    )


def test_notebooks_dir_is_the_repository_folder() -> None:
    assert (cli.notebooks_dir() / "00_welcome.ipynb").is_file()


def test_entry_point_lab_help() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "alignkit.cli", "lab", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0 and "passed to jupyter lab" in out.stdout, out.stdout


def test_lab_passes_options_to_jupyter(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []
    monkeypatch.setattr(cli.subprocess, "call", lambda cmd, env: seen.append(cmd) or 0)
    assert cli.main(["lab", "--no-browser", "--port", "8890"]) == 0
    cmd = seen[0]
    assert cmd[1:3] == ["-m", "jupyterlab"] and "--no-browser" in cmd and "8890" in cmd
    assert any(arg.startswith("--ServerApp.root_dir=") and arg.endswith("notebooks") for arg in cmd)


def test_unknown_device_environment_is_reported(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ALIGNKIT_DEVICE", "gpu0")
    assert cli.main(["doctor"]) == 1
    assert "ALIGNKIT_DEVICE must be one of" in capsys.readouterr().out


def test_python_dash_m_alignkit_is_the_cli() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "alignkit", "student", ""], capture_output=True, text=True
    )
    assert out.returncode == 2 and "alignkit student: out must name a folder" in out.stderr

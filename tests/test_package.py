"""The package as built: the sdist and the wheel carry what an installed recbole-dcr needs; one version number."""

import glob
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile

import pytest

from recbole_dcr import cli
from recbole_dcr.version import __version__

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """``python -m build`` (sdist, then the wheel from it) on a copy of the sources: ``(sdist, wheel)``."""
    pytest.importorskip("build")
    source = tmp_path_factory.mktemp("source") / "recbole-dcr"
    # A copy, so that the build's egg-info and build/ folders never land in the checkout; without what
    # runs leave at the top (data, checkpoints, logs), which the build would not take anyway.
    top_level = {".git", "dataset", "saved", "log", "log_tensorboard", "build", "dist", "ray_results", "wandb"}
    anywhere = shutil.ignore_patterns("*.egg-info", "__pycache__", ".pytest_cache", ".hypothesis", "_build")
    shutil.copytree(REPO, source, ignore=lambda folder, names: set(anywhere(folder, names)) | (
        top_level & set(names) if os.path.samefile(folder, REPO) else set()))
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(source)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (sdist,), (wheel,) = glob.glob(str(out / "*.tar.gz")), glob.glob(str(out / "*.whl"))
    return sdist, wheel


def _files(folder, pattern):
    return sorted(os.path.relpath(path, REPO) for path in glob.glob(os.path.join(REPO, folder, pattern), recursive=True))


def test_the_wheel_carries_every_yaml_and_every_converter(dist):
    _, wheel = dist
    names = set(zipfile.ZipFile(wheel).namelist())
    yamls = _files("properties", "**/*.yaml")
    assert len(yamls) >= 15
    # installed inside the package, where recbole_dcr.config.properties_dir() looks first
    assert [path for path in yamls if f"recbole_dcr/{path}" not in names] == []
    converters = _files("recbole_dcr/converters", "*.py")
    assert [path for path in converters if path not in names] == []
    # each script of dataset_converters/ is `recbole-dcr convert NAME` once installed: its converter is there
    scripts = [os.path.basename(path) for path in _files("dataset_converters", "*.py")]
    assert scripts and [s for s in scripts if f"recbole_dcr/converters/{s}" not in names] == []
    entry_points = zipfile.ZipFile(wheel).read(f"recbole_dcr-{__version__}.dist-info/entry_points.txt").decode()
    assert "recbole-dcr = recbole_dcr.cli:main" in entry_points
    # every module of the package, and nothing of the tests or the research record
    modules = _files("recbole_dcr", "**/*.py")
    assert [path for path in modules if path not in names] == []
    assert not [name for name in names if name.startswith(("tests/", "results/", "benchmarks/"))]


def test_the_sdist_carries_the_sources_a_user_of_them_needs(dist):
    sdist, _ = dist
    root = f"recbole_dcr-{__version__}/"
    names = {name[len(root):] for name in tarfile.open(sdist).getnames()}
    wanted = ["setup.py", "pyproject.toml", "README.md", "CHANGELOG.md", "docs/conf.py", "docs/index.md",
              *_files("properties", "**/*.yaml"), *_files("dataset_converters", "*"), *_files("hyper", "*.hyper")]
    assert [path for path in wanted if path not in names] == []


def test_one_version_number_in_one_place(dist, capsys):
    _, wheel = dist
    assert os.path.basename(wheel) == f"recbole_dcr-{__version__}-py3-none-any.whl"
    metadata = zipfile.ZipFile(wheel).read(f"recbole_dcr-{__version__}.dist-info/METADATA").decode()
    assert f"\nVersion: {__version__}\n" in metadata
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert re.match(rf"recbole-dcr {re.escape(__version__)} \(recbole 1\.2\.1, torch \S+, Python 3", capsys.readouterr().out)
    for path in ("setup.py", "pyproject.toml", "docs/conf.py"):  # they read recbole_dcr/version.py
        assert __version__ not in open(os.path.join(REPO, path), encoding="utf-8").read(), path
    assert re.search(rf"^## {re.escape(__version__)} ", open(os.path.join(REPO, "CHANGELOG.md"), encoding="utf-8").read(),
                     re.MULTILINE)

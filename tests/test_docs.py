"""The docs site and the README: a strict build, links that resolve, every result and module shown, examples that run."""

import glob
import os
import re
import subprocess
import sys

import pytest

from tests.conftest import tiny_config_dict

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(REPO, "docs")


def _read(path):
    with open(os.path.join(REPO, path), encoding="utf-8") as f:
        return f.read()


def _pages():
    return sorted(glob.glob(os.path.join(DOCS, "**", "*.md"), recursive=True))


def test_the_docs_build_strictly(tmp_path):
    pytest.importorskip("sphinx")
    pytest.importorskip("myst_parser")
    # -W: any warning fails (a broken cross-reference, a link to a missing page or heading, a docstring
    # autodoc cannot parse); -n: every API name must resolve; -E: nothing reused from an earlier build.
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-n", "-E", "-q", "-b", "html", DOCS,
         str(tmp_path / "html")],
        env=dict(os.environ, PYTHONPATH=REPO), capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "html" / "research" / "default-dataset.html").is_file()
    api = (tmp_path / "html" / "api.html").read_text(encoding="utf-8")
    assert 'id="recbole_dcr.config.Config"' in api  # autodoc documented the classes, not only their modules


def test_every_results_report_is_shown_by_a_page():
    # The figures on the pages are the files the benchmarks write, included, never copied by hand.
    included = set()
    for page in _pages():
        for target in re.findall(r"```\{(?:include|literalinclude)\} (\S+)", open(page, encoding="utf-8").read()):
            included.add(os.path.normpath(os.path.join(os.path.dirname(page), target)))
    reports = [path for ext in ("md", "txt", "log")
               for path in glob.glob(os.path.join(REPO, "results", "**", f"*.{ext}"), recursive=True)]
    assert reports
    missing = sorted(os.path.relpath(path, REPO) for path in reports if os.path.normpath(path) not in included)
    assert not missing, f"include these in a page under docs/research/ (```{{include}} ../../results/NAME.md): {missing}"


def test_every_module_is_in_the_api_reference():
    import pkgutil

    import recbole_dcr

    api = open(os.path.join(DOCS, "api.md"), encoding="utf-8").read()
    documented = set(re.findall(r"\.\. automodule:: (\S+)", api))
    modules = {info.name for info in pkgutil.walk_packages(recbole_dcr.__path__, "recbole_dcr.")}
    modules -= {"recbole_dcr.__main__", "recbole_dcr.version"}  # running it exits; the number alone
    assert modules - documented == set(), "add these to docs/api.md"
    assert documented - modules - {"recbole_dcr"} == set(), "docs/api.md names modules that do not exist"


def test_readme_is_short_and_its_links_resolve():
    readme = _read("README.md")
    assert len(readme.splitlines()) <= 200
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    local = [link for link in links if "://" not in link]
    assert len(local) >= 12  # one line per topic of the docs
    assert [link for link in local if not os.path.exists(os.path.join(REPO, link))] == []


def test_the_readme_quick_start_is_what_ci_runs():
    readme, ci = _read("README.md"), _read(".ci/run")
    assert "pip install -e . && recbole-dcr train --model=DCRMoE\n" in readme
    test_command = 'pip install -e ".[test]" && python -m pytest -q'
    assert test_command in readme
    assert re.search(r'^python3 -m pip install -q -e "\.\[test\]" && python3 -m pytest -q$', ci, re.MULTILINE)
    assert "bash .ci/check_wheel" in ci or ".ci/check_wheel" in ci
    # the getting-started page shows the README's quick start itself, between these markers
    assert "<!-- quick start: begin -->" in readme and "<!-- quick start: end -->" in readme
    assert ":start-after: <!-- quick start: begin -->" in _read("docs/getting-started.md")


def _subcommand_lines(text):
    """Every `recbole-dcr SUBCOMMAND ...` of the ```bash blocks (continuation lines joined) and of inline code."""
    lines = [line.split(" #")[0] for block in re.findall(r"```bash\n(.*?)```", text, re.DOTALL)
             for line in block.replace("\\\n", " ").splitlines()]
    lines += re.findall(r"`([^`\n]*recbole-dcr [a-z][^`\n]*)`", text)
    for line in lines:
        for command in line.split("&&"):
            command = re.sub(r"^(\w+=\S+ )+", "", command.strip())  # OMP_NUM_THREADS=1 recbole-dcr ...
            if command.startswith("recbole-dcr ") and not command.startswith("recbole-dcr COMMAND"):
                yield command


def test_every_command_in_the_docs_names_a_subcommand_flag_or_key_that_exists():
    import shlex

    from recbole_dcr import cli
    from recbole_dcr.config import Config, models_declaring

    known = Config(model="DCRMoE", dataset="dcr_sim", command_line=[]).known_keys()
    commands = [cmd for path in ["README.md", *_pages()] for cmd in _subcommand_lines(open(
        os.path.join(REPO, path), encoding="utf-8").read())]
    assert len(commands) > 40
    parser = cli.build_parser()
    for command in commands:
        # [--optional ...] of usage lines and a --flag=... placeholder are not arguments
        argv = [arg for arg in shlex.split(command)[1:] if not arg.startswith("[") and not arg.endswith("...]")
                and not arg.endswith("=...")]
        if argv[0] == "convert" or argv == ["recommend"]:
            continue  # the converters' own parser (tests/converters runs them); the command's name alone
        args, rest = parser.parse_known_args(argv)
        for arg in rest:
            assert arg.startswith("--") and "=" in arg, f"{command}: {arg} is neither a flag nor --key=value"
            key = arg[2:].split("=", 1)[0]
            assert key in known or models_declaring(key) or key.startswith("sim_"), f"{command}: no yaml declares {key}"


def test_the_extending_example_trains_dcr_moe_on_its_backbone(tiny_dataset, tmp_path, monkeypatch):
    from recbole_dcr import run_recbole_dcr
    from recbole_dcr.model import backbones

    page = open(os.path.join(DOCS, "extending.md"), encoding="utf-8").read()
    blocks = re.findall(r"```python\n(.*?)```", page, re.DOTALL)
    monkeypatch.setattr(backbones, "BACKBONES", dict(backbones.BACKBONES))  # the example registers PNN
    namespace = {}
    exec(blocks[0], namespace)  # noqa: S102  (the page's own code, as a reader would paste it)
    assert backbones.BACKBONES["PNN"] is namespace["PNNBackbone"]
    assert 'run_recbole_dcr(model="DCRMoE", config_dict={"backbone": "PNN"})' in blocks[1]
    monkeypatch.chdir(tmp_path)
    data_path, _, _ = tiny_dataset
    result = run_recbole_dcr(model="DCRMoE", dataset="tiny", saved=False,
                             config_dict=tiny_config_dict(data_path, tmp_path, backbone="PNN", epochs=1))
    assert 0 <= result["test_result"]["ndcg@3"] <= 1

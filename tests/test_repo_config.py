"""The repository's own configuration files parse: .pre-commit-config.yaml (an invalid file makes
every commit fail once the README's ``pre-commit install`` has run)."""

import ast
import re
import shutil
import subprocess

import pytest
from conftest import ROOT


def test_pre_commit_config_is_valid():
    yaml = pytest.importorskip("yaml")  # PyYAML comes with optuna (.[tune])
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = [hook for repo in config["repos"] for hook in repo["hooks"]]
    assert {hook["id"] for hook in hooks} == {"ruff", "ruff-format", "conventional-commit"}
    for hook in hooks:
        assert all(isinstance(hook[key], str) for key in ("id", "name", "entry", "language")), hook
    (commit_msg,) = [hook for hook in hooks if hook["id"] == "conventional-commit"]
    pattern = re.compile(commit_msg["entry"], re.MULTILINE)  # pygrep --negate: the message must match
    assert pattern.search("feat(sac): refill with the current policy")
    assert pattern.search("fix: one line for bad input")
    assert not pattern.search("Fixed stuff")
    if shutil.which("pre-commit"):  # the real validator, where it is installed
        out = subprocess.run(
            ["pre-commit", "validate-config", ".pre-commit-config.yaml"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        assert out.returncode == 0, out.stdout + out.stderr


def test_common_stays_a_short_library():
    """common/: no function over 40 lines, and no ``except Exception`` that swallows the error."""
    for path in sorted((ROOT / "common").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef):
                assert node.end_lineno - node.lineno < 40, f"{path.name}: {node.name}"
            if isinstance(node, ast.ExceptHandler) and isinstance(node.type, ast.Name):
                if node.type.id in ("Exception", "BaseException"):
                    ends = {type(n).__name__ for n in ast.walk(node)}
                    assert ends & {"Raise", "Call"}, f"{path.name}:{node.lineno} swallows {node.type.id}"

"""Threads and precision at the defaults: ``--torch-threads 0`` (auto) picks one thread for small
networks and two for big ones, an explicit count wins, a negative one is bad input;
reduced precision is opt-in in every script (the same command gives the same kind of run on any CPU)."""

import dataclasses
import glob
import importlib
import json
import os

import pytest
import torch
from conftest import ROOT, assert_one_line_error, run_script

from common.device import MANY_THREADS, MANY_THREADS_FROM, physical_cores, threads_for

SCRIPTS = sorted(os.path.basename(p)[:-3] for p in glob.glob(str(ROOT / "algos" / "*.py")))


def test_physical_cores_counts_each_core_once():
    cores = physical_cores()
    assert 1 <= cores <= (os.cpu_count() or 1)
    if hasattr(os, "sched_getaffinity"):
        assert cores <= len(os.sched_getaffinity(0))


def test_threads_for_rule(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    small = torch.nn.Linear(10, 10)
    big = torch.nn.Linear(MANY_THREADS_FROM, 1)  # MANY_THREADS_FROM + 1 parameters
    assert threads_for(0) == 1  # before the networks exist
    assert threads_for(0, small) == 1
    assert threads_for(0, small, big) == min(MANY_THREADS, physical_cores())  # the same on any >= 2 cores
    assert threads_for(3, small) == 3 and threads_for(1, big) == 1  # an explicit count wins
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # runs side by side: the cap
    assert threads_for(0, big) == 1 and threads_for(2, big) == 2


@pytest.mark.parametrize("script", SCRIPTS)
def test_defaults_are_auto_threads_and_float32(script):
    fields = {f.name: f for f in dataclasses.fields(importlib.import_module(f"algos.{script}").Args)}
    assert fields["torch_threads"].default == 0
    if "bf16" in fields:
        assert fields["bf16"].default is False


def test_help_states_the_thread_rule():
    out = run_script("ppo.py", "--help", timeout=120)
    assert out.returncode == 0 and "0: auto" in out.stdout and "50k parameters" in out.stdout


def test_negative_threads_is_one_line_error_before_any_run_folder(runs_dir):
    out = run_script("ppo.py", "--torch-threads", "-1", "--runs-dir", runs_dir, timeout=120)
    assert out.returncode == 2
    assert_one_line_error(out.stderr, "--torch-threads must be >= 0 (got -1)")
    assert not os.path.exists(runs_dir)


def test_summary_records_the_threads_used(runs_dir):
    out = run_script(
        "reinforce.py", "--total-timesteps", "600", "--num-envs", "2", "--runs-dir", runs_dir, timeout=300
    )
    assert out.returncode == 0, out.stderr
    (summary,) = glob.glob(f"{runs_dir}/*/summary.json")
    assert json.loads(open(summary).read())["torch_threads"] == 1  # auto: a small network

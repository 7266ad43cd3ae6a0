"""Checkpoints, exact resume, clean stops, evaluation, determinism and one-line failures, for every
script in SCRIPTS (adding a script is one line there).

What each test shows:
- test_resume_is_exact: N steps straight == N/2, stop, --resume, N/2 more: every tensor of the final
  checkpoints (weights, optimizer moments, normalisation statistics, RNG states) and curve.csv are
  identical on CPU with --torch-deterministic. For scripts with ``exact=False`` (envs whose state
  cannot be saved: MuJoCo, Box2D, ALE come back as new episodes) only the step count is checked.
- test_resume_is_exact also covers the replay buffer: the tiny buffers go into checkpoints by default
  (--checkpoint-buffer auto), and straight and resumed runs make the same number of updates (Atari too).
- test_resume_without_buffer (off-policy scripts): a checkpoint written with --checkpoint-buffer off
  resumes with one line saying so; the buffer refills with the current policy (forced here to one
  action: random play would not repeat it) and no update happens until it holds --learning-starts
  transitions; then learning goes on.
- test_resume_refuses_other_buffer_shape: --buffer-size (and PER's alpha, n-step, --per) changed at
  resume: one line, exit 2.
- test_same_seed_same_returns: two runs with one seed write the same curve.csv and the same weights.
- test_sigterm_in_process: SIGTERM mid-run -> final checkpoint, TensorBoard flushed, exit 1, one line
  naming the checkpoint; test_sigterm_cli does the same to a real `python algos/ppo.py` process.
- test_non_finite_loss_keeps_checkpoint: a loss that blows up (learning rate 1e30 after resuming
  from a good checkpoint) stops with one line naming the loss and the step, exit 1, and leaves the
  good checkpoint byte for byte.
- test_evaluate: the script's evaluate() plays the saved agent (greedy and stochastic, mp4 files);
  test_evaluate_cli: `python evaluate.py CKPT` prints mean +/- std; --render without a display and
  an unreadable checkpoint each give one line and exit 2.
- test_interrupted_write_keeps_latest: a checkpoint write that dies half way leaves the previous
  latest.pt loadable; a truncated checkpoint gives one line, exit 2, on --resume.
- test_missing_optional_dependency: ale-py, mujoco, Box2D made unimportable -> one line with the
  exact pip command and exit 2, for every script.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import importlib
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ROOT, assert_one_line_error

from common.checkpoints import load_checkpoint, load_optimizer, write_atomic
from common.evaluation import evaluate


@dataclass
class Script:
    name: str
    """algos/<name>.py"""
    env_id: str
    """a small env the script supports"""
    tiny: dict
    """Args for a run of a few seconds with several iterations and finished episodes"""
    blow_up: dict = field(default_factory=lambda: {"learning_rate": 1e30})
    """Args that make the loss non-finite soon after resuming (and checkpoint_every if not 1)"""
    exact: bool = True
    """the env state is saved, so a resumed run matches a straight one exactly"""
    greedy_eval: bool = True
    """test greedy evaluation (off for Atari: an untrained greedy agent may never press FIRE)"""
    optional: tuple[str, ...] = ("ale_py", "mujoco", "Box2D")
    """optional packages whose envs this script accepts (see OPTIONAL)"""
    slow: bool = False
    """run this script's tests only with `pytest -m slow` (CI runs one script per family)"""
    policy: str | None = None
    """off-policy scripts: the checkpoint key of the network that acts (its output layer is last)"""
    reshape: dict = field(default_factory=dict)
    """off-policy scripts: arguments that shape the saved replay buffer, each with another valid value"""


# Atari: 2 envs x 512 steps see ~2 random Breakout games each; ALE cannot save its emulator state.
ATARI = {"total_timesteps": 1024, "num_envs": 2, "num_steps": 64}
PPO_TINY = {"num_envs": 2, "num_steps": 128, "num_minibatches": 4, "update_epochs": 2}
# Off-policy: a small buffer, which --checkpoint-buffer auto puts into checkpoints (exact resume),
# small nets and batches.
SAC_TINY = {"learning_starts": 200, "buffer_size": 1000, "batch_size": 32, "hidden_sizes": (32, 32)}
SAC_TINY = {**SAC_TINY, "log_every": 100}
# (a resumed optimizer keeps its saved learning rate, so a huge discount blows the Q targets up instead)
SAC_BLOW_UP = {"gamma": 1e30, "checkpoint_every": 100}
ATARI_OFF = {"total_timesteps": 1024, "learning_starts": 256, "buffer_size": 1024, "batch_size": 16}
ATARI_OFF = {**ATARI_OFF, "target_network_frequency": 100}
ATARI_BLOW_UP = {"gamma": 1e30, "checkpoint_every": 64}
DQN_TINY = {"learning_starts": 200, "buffer_size": 1000, "batch_size": 32, "hidden_sizes": (32, 32)}
DQN_TINY = {**DQN_TINY, "target_network_frequency": 100, "total_timesteps": 3000}
ON_TINY = {"total_timesteps": 2048, "num_envs": 2, "num_steps": 32}
# A resumed optimizer keeps its saved learning rate: a huge discount blows the targets up instead
# (DQN: with the Huber loss quadratic everywhere, else the loss stays large but finite).
BIG_GAMMA = {"gamma": 1e30, "checkpoint_every": 100}
DQN_BLOW_UP = {**BIG_GAMMA, "huber_delta": 1e38}
ALE = {"exact": False, "greedy_eval": False, "slow": True, "optional": ("ale_py",)}
SAC = {"policy": "actor", "reshape": {"buffer_size": 2000}}
DQN = {"policy": "q_network", "reshape": {"buffer_size": 2000}}

SCRIPTS = [
    Script("ppo", "CartPole-v1", {"total_timesteps": 4096, "num_envs": 2, "num_steps": 128}),
    Script("a2c", "CartPole-v1", {"total_timesteps": 2048, "num_envs": 2, "num_steps": 16}, slow=True),
    Script("a2c_continuous", "Pendulum-v1", {"total_timesteps": 2048, "num_envs": 2, "num_steps": 16}),
    Script("ppo_continuous", "Pendulum-v1", {**PPO_TINY, "total_timesteps": 2048}, slow=True),
    Script("sac_continuous", "Pendulum-v1", {**SAC_TINY, "total_timesteps": 800}, SAC_BLOW_UP, **SAC),
    Script(
        "sac_discrete", "CartPole-v1", {**SAC_TINY, "total_timesteps": 1000}, SAC_BLOW_UP, slow=True, **SAC
    ),
    Script("dqn", "CartPole-v1", DQN_TINY, DQN_BLOW_UP, **DQN),
    Script("reinforce", "CartPole-v1", {**ON_TINY, "num_steps": 128}, BIG_GAMMA, slow=True),
    Script(
        "sarsa", "CartPole-v1", {**ON_TINY, "num_minibatches": 2, "update_epochs": 1}, BIG_GAMMA, slow=True
    ),
    Script(
        "dqn_per",
        "CartPole-v1",
        DQN_TINY,
        DQN_BLOW_UP,
        slow=True,
        policy="q_network",
        reshape={"buffer_size": 2000, "alpha": 0.5, "n_step": 3},
    ),
    Script("ppo_atari", "ALE/Breakout-v5", {**ATARI, "num_minibatches": 2, "update_epochs": 1}, **ALE),
    Script("a2c_atari", "ALE/Breakout-v5", ATARI, **ALE),
    Script(
        "dqn_atari",
        "ALE/Breakout-v5",
        {**ATARI_OFF, "num_envs": 1},
        ATARI_BLOW_UP,
        **ALE,
        policy="q_network",
        reshape={"buffer_size": 2048, "per": True, "per_alpha": 0.5},
    ),
    Script("sac_atari", "ALE/Breakout-v5", {**ATARI_OFF, "num_envs": 1}, ATARI_BLOW_UP, **ALE, **SAC),
]
PARAMS = [pytest.param(s, id=s.name, marks=[pytest.mark.slow] if s.slow else []) for s in SCRIPTS]
REPLAY_PARAMS = [p for p in PARAMS if p.values[0].policy is not None]


def module_of(script: Script):
    return importlib.import_module(f"algos.{script.name}")


def make_args(script: Script, runs_dir, **overrides):
    module = module_of(script)
    return module.Args(
        **{"env_id": script.env_id, "torch_deterministic": True, **script.tiny, **overrides},
        runs_dir=str(runs_dir),
    )


def as_flags(values: dict) -> list[str]:
    """{"num_envs": 2, "cuda": False} -> ["--num-envs", "2", "--no-cuda"] (tyro's spelling)."""
    flags = []
    for key, value in values.items():
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            flags.append(flag if value else "--no-" + key.replace("_", "-"))
        elif isinstance(value, tuple | list):
            flags += [flag, *map(str, value)]
        else:
            flags += [flag, str(value)]
    return flags


def checkpoint_of(runs_dir) -> str:
    (path,) = glob.glob(f"{runs_dir}/*/checkpoints/latest.pt")
    return path


def leaves(obj, where=""):
    """(key path, tensor or array) of every tensor / numpy array inside nested dicts and lists."""
    if isinstance(obj, torch.Tensor | np.ndarray):
        yield where, obj
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield from leaves(value, f"{where}.{key}")
    elif isinstance(obj, list | tuple):
        for i, value in enumerate(obj):
            yield from leaves(value, f"{where}.{i}")


def assert_same_state(path_a: str, path_b: str) -> None:
    a, b = load_checkpoint(path_a), load_checkpoint(path_b)
    assert a["global_step"] == b["global_step"]
    skip = ("args", "envs", "wall_s")  # Args differ in --resume; wall-clock times (env state: episode starts)
    tensors_a = dict(leaves({k: v for k, v in a.items() if k not in skip}))
    tensors_b = dict(leaves({k: v for k, v in b.items() if k not in skip}))
    assert tensors_a.keys() == tensors_b.keys()
    for key, value in tensors_a.items():
        other = tensors_b[key]
        same = torch.equal(value, other) if isinstance(value, torch.Tensor) else np.array_equal(value, other)
        assert same, f"{key} differs"
    assert a["run"] == b["run"]


def updates_of(state: dict) -> int:
    """Gradient updates so far: Adam's step count of the (first) critic or Q-network parameter."""
    optimizer = state["optimizer"] if "optimizer" in state else state["q_optimizer"]
    return int(optimizer["state"][0]["step"]) if optimizer["state"] else 0


def curve(runs_dir) -> str:
    (path,) = glob.glob(f"{runs_dir}/*/curve.csv")
    return Path(path).read_text()


@pytest.fixture(scope="module")
def straight_runs(tmp_path_factory):
    """One straight run per script with --save-model, shared by the tests of this module."""
    cache = {}

    def get(script: Script) -> Path:
        if script.name not in cache:
            runs_dir = tmp_path_factory.mktemp(f"straight_{script.name}")
            module_of(script).train(make_args(script, runs_dir, save_model=True))
            cache[script.name] = runs_dir
        return cache[script.name]

    return get


@pytest.mark.parametrize("script", PARAMS)
def test_resume_is_exact(script, straight_runs, tmp_path):
    straight = straight_runs(script)
    half = script.tiny["total_timesteps"] // 2
    module_of(script).train(make_args(script, tmp_path, save_model=True), report=lambda step, _: step >= half)
    first_half = checkpoint_of(tmp_path)
    stopped_at = load_checkpoint(first_half)["global_step"]
    assert 0 < stopped_at < script.tiny["total_timesteps"]
    first_wall = load_checkpoint(first_half)["wall_s"]  # before the second piece overwrites latest.pt
    summary = module_of(script).train(
        make_args(script, tmp_path / "unused", save_model=True, resume=first_half)
    )
    assert summary["run_dir"] == str(Path(first_half).parent.parent)  # resumed in the same run folder
    assert summary["wall_s"] > first_wall > 0  # both pieces' training time
    if script.exact:
        assert_same_state(checkpoint_of(straight), first_half)
        assert curve(straight) == curve(tmp_path)
    else:
        assert (
            load_checkpoint(first_half)["global_step"]
            == load_checkpoint(checkpoint_of(straight))["global_step"]
        )
    if script.policy is not None:  # the replay buffer came back: no update lost to a refill
        assert load_checkpoint(first_half)["buffer"] is not None
        assert updates_of(load_checkpoint(first_half)) == updates_of(load_checkpoint(checkpoint_of(straight)))


def force_one_action(path: str, script: Script) -> int | None:
    """Make the checkpoint's acting network choose one action: the last discrete action (returned), or
    a = +1 in every dimension for sac_continuous's squashed Gaussian (mean 5, smallest std; None)."""
    state = load_checkpoint(path)
    weight, bias = (state[script.policy][key] for key in list(state[script.policy])[-2:])
    weight.zero_()
    bias.zero_()
    if script.name == "sac_continuous":
        mean, log_std = bias.chunk(2)
        mean.fill_(5.0)
        log_std.fill_(-20.0)
        target = None
    else:
        bias[-1] = 50.0
        target = len(bias) - 1
    torch.save(state, path)
    return target


@pytest.mark.parametrize("script", REPLAY_PARAMS)
def test_resume_without_buffer(script, tmp_path, capsys):
    total, refill = script.tiny["total_timesteps"], script.tiny["learning_starts"]
    module = module_of(script)
    args = make_args(script, tmp_path, save_model=True, checkpoint_buffer="off")
    module.train(args, report=lambda step, _: step >= total // 2)
    path = checkpoint_of(tmp_path)
    half = load_checkpoint(path)
    assert half["buffer"] is None and updates_of(half) > 0
    target = force_one_action(path, script)
    capsys.readouterr()

    # Resume and stop one step before the buffer holds --learning-starts transitions again; save the buffer.
    resume_at = half["global_step"] + refill
    before = resume_at - 1
    overrides = {"save_model": True, "resume": path}
    module.train(make_args(script, tmp_path, **overrides, checkpoint_buffer="on", total_timesteps=before))
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("resume:")]
    assert lines == [
        "resume: the checkpoint holds no replay buffer (see --checkpoint-buffer): the current policy refills "
        f"it; updates resume at step {resume_at:,}, once it holds --learning-starts {refill:,} transitions"
    ]
    refilled = load_checkpoint(path)
    assert refilled["global_step"] == before and updates_of(refilled) == updates_of(half)  # none yet
    actions = refilled["buffer"]["actions"]
    if "valid" in refilled["buffer"]:  # Atari's frame buffer: the slots that hold transitions
        actions = actions[refilled["buffer"]["valid"]]
    assert len(actions) >= refill - 2  # new transitions only (Atari: minus its reset slot)
    # the current policy acted (epsilon-greedy: mostly): random play picks this 1 / |A| of the time
    forced = actions >= 0.99 if target is None else actions == target
    assert forced.mean() >= 0.9, forced.mean()

    # the buffer holds enough again: learning goes on (the half may have stopped late: train past it)
    module.train(make_args(script, tmp_path, **overrides, total_timesteps=before + 2 * refill))
    assert updates_of(load_checkpoint(path)) > updates_of(refilled)


@pytest.mark.parametrize("script", REPLAY_PARAMS)
def test_resume_refuses_other_buffer_shape(script, straight_runs, tmp_path, capsys):
    path = checkpoint_of(straight_runs(script))
    saved = load_checkpoint(path)["args"]
    for name, value in script.reshape.items():
        with pytest.raises(SystemExit) as exit_info:
            module_of(script).train(make_args(script, tmp_path, resume=path, **{name: value}))
        flag = "--" + name.replace("_", "-")
        assert_one_line_error(
            capsys.readouterr().err, f"the checkpoint was trained with {flag} {saved[name]}, not {value}"
        )
        assert exit_info.value.code == 2
    assert not list(tmp_path.iterdir())  # refused before a run folder was made


def test_checkpoint_buffer_auto():
    """auto: buffers up to AUTO_BUFFER_LIMIT (2 GiB) go into checkpoints; on / off (and the True /
    False of older checkpoints) decide alone. Atari's default 1M-frame buffer is not saved by auto."""
    from types import SimpleNamespace

    from algos.dqn_atari import FrameReplayBuffer
    from common.checkpoints import AUTO_BUFFER_LIMIT, keeps_buffer

    def buffer_of(nbytes):  # an array of nbytes that takes no memory
        return SimpleNamespace(a=np.broadcast_to(np.uint8(0), (nbytes,)), size=nbytes)

    assert keeps_buffer("auto", buffer_of(AUTO_BUFFER_LIMIT // 2), buffer_of(AUTO_BUFFER_LIMIT // 2), None)
    assert not keeps_buffer("auto", buffer_of(AUTO_BUFFER_LIMIT // 2), buffer_of(AUTO_BUFFER_LIMIT // 2 + 1))
    assert keeps_buffer("on", buffer_of(10 * AUTO_BUFFER_LIMIT)) and keeps_buffer(True, buffer_of(0))
    assert not keeps_buffer("off", buffer_of(1)) and not keeps_buffer(False, buffer_of(1))
    cpu = torch.device("cpu")
    assert not keeps_buffer("auto", FrameReplayBuffer(1_000_000, 1, (4, 84, 84), cpu))  # ~6.6 GiB
    assert keeps_buffer("auto", FrameReplayBuffer(300_000, 8, (4, 84, 84), cpu))  # ~2.0 GiB


@pytest.mark.parametrize("script", PARAMS)
def test_resume_cli_takes_checkpoint_args(script, straight_runs, monkeypatch):
    """`python algos/X.py --resume CKPT [flags]`: the checkpoint's Args are the defaults, flags override."""
    from common.cli import cli

    path = checkpoint_of(straight_runs(script))
    monkeypatch.setattr(sys, "argv", [f"{script.name}.py", "--resume", path, "--total-timesteps", "123"])
    args = cli(module_of(script).Args)
    expected = make_args(script, straight_runs(script), save_model=True, total_timesteps=123, resume=path)
    assert args == expected


@pytest.mark.parametrize("script", PARAMS)
def test_same_seed_same_returns(script, straight_runs, tmp_path):
    module_of(script).train(make_args(script, tmp_path, save_model=True))
    assert curve(straight_runs(script)).count("\n") >= 2  # a header and at least one row
    assert curve(tmp_path) == curve(straight_runs(script))
    assert_same_state(checkpoint_of(straight_runs(script)), checkpoint_of(tmp_path))


@pytest.mark.parametrize("script", PARAMS)
def test_sigterm_in_process(script, tmp_path, capfd):
    def send_sigterm(step, _):
        if step >= script.tiny["total_timesteps"] // 4:
            os.kill(os.getpid(), signal.SIGTERM)

    handler = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as exit_info:
        module_of(script).train(make_args(script, tmp_path, total_timesteps=10**9), report=send_sigterm)
    assert signal.getsignal(signal.SIGTERM) is handler  # the run put the old handler back
    assert exit_info.value.code == 1
    lines = capfd.readouterr().err.strip().splitlines()
    path = checkpoint_of(tmp_path)
    assert lines[-1].startswith("stopped by SIGTERM at step ") and lines[-1].endswith(f"checkpoint: {path}")
    state = load_checkpoint(path)
    assert f"at step {state['global_step']};" in lines[-1]
    assert glob.glob(f"{tmp_path}/*/events.out.tfevents.*")


def test_sigterm_cli(tmp_path):
    """A real process: Ctrl-C / SIGTERM while training -> checkpoint, exit 1, one line saying where."""
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "algos" / "ppo.py"),
            "--total-timesteps",
            "100000000",
            "--runs-dir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stdout.readline().startswith("step ")  # training has started
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 1, err
    path = checkpoint_of(tmp_path)
    assert err.strip().splitlines() == [
        f"stopped by SIGTERM at step {load_checkpoint(path)['global_step']}; checkpoint: {path}"
    ]


@pytest.mark.parametrize("script", PARAMS)
def test_non_finite_loss_keeps_checkpoint(script, straight_runs, tmp_path, capfd, monkeypatch):
    """Resume a good run with a learning rate of 1e30 and a checkpoint after every update: the
    run stops at the first non-finite loss, and latest.pt is the last one with finite weights.
    (A discount of 1e30 is bad input, refused by the scripts' check_args: skipped here.)"""
    monkeypatch.setattr(module_of(script), "check_args", lambda args: None)
    good = tmp_path / "run" / "checkpoints" / "latest.pt"
    shutil.copytree(Path(checkpoint_of(straight_runs(script))).parent.parent, tmp_path / "run")
    digest = hashlib.sha256(good.read_bytes()).hexdigest()
    steps = script.tiny["total_timesteps"] * 4
    overrides = {"checkpoint_every": 1, **script.blow_up, "total_timesteps": steps}
    args = make_args(script, tmp_path, **overrides, resume=str(good))
    with pytest.raises(SystemExit) as exit_info:
        module_of(script).train(args)
    assert exit_info.value.code == 1
    lines = capfd.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: non-finite "), lines
    assert lines[0].endswith(f"last good checkpoint: {good}"), lines
    failed_at = int(lines[0].split(" at step ")[1].split(maxsplit=1)[0].rstrip(";"))
    state = load_checkpoint(str(good))
    assert all(
        torch.isfinite(t).all()
        for _, t in leaves(state)
        if isinstance(t, torch.Tensor) and t.is_floating_point()
    )
    assert state["global_step"] < failed_at
    if state["global_step"] == load_checkpoint(checkpoint_of(straight_runs(script)))["global_step"]:
        assert hashlib.sha256(good.read_bytes()).hexdigest() == digest  # the first update blew up


@pytest.mark.parametrize("script", PARAMS)
def test_evaluate(script, straight_runs):
    path = checkpoint_of(straight_runs(script))
    first = evaluate(path, episodes=2, greedy=script.greedy_eval)
    assert len(first["returns"]) == 2 and np.isfinite(first["mean"]) and first["std"] >= 0
    assert evaluate(path, episodes=2, greedy=script.greedy_eval) == first  # same seed
    stochastic = evaluate(path, episodes=1, greedy=False, capture_video=True)
    assert len(stochastic["returns"]) == 1
    videos = glob.glob(f"{Path(path).parent.parent}/videos/eval-latest-episode-*.mp4")
    assert len(videos) == 1 and os.path.getsize(videos[0]) > 0


def test_evaluate_cli(straight_runs, monkeypatch, capsys):
    """`python evaluate.py CKPT ...` (its main(), in this process)."""
    import evaluate

    path = checkpoint_of(straight_runs(SCRIPTS[0]))
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    result = evaluate.main([path, "--episodes", "2", "--stochastic"])
    out = capsys.readouterr().out
    assert (
        f"{SCRIPTS[0].name} on {SCRIPTS[0].env_id}: return {result['mean']:.2f} +/- {result['std']:.2f}"
        in out
    )
    assert "over 2 episodes (stochastic)" in out
    for argv, expected in [
        ([path, "--render"], "error: --render needs a display"),
        ([__file__], f"error: cannot read checkpoint '{__file__}'"),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            evaluate.main(argv)
        err = capsys.readouterr().err
        assert (
            exit_info.value.code == 2 and len(err.strip().splitlines()) == 1 and err.startswith(expected)
        ), err


class Explodes:
    """Pickling this raises: torch.save dies half way through writing the file."""

    def __reduce__(self):
        raise RuntimeError("killed during the write")


def test_interrupted_write_keeps_latest(tmp_path, capsys):
    args = make_args(SCRIPTS[0], tmp_path)
    path = tmp_path / "latest.pt"
    good = {"global_step": 1, "weights": torch.ones(1000), "args": dataclasses.asdict(args)}
    write_atomic(good, path)
    with pytest.raises(RuntimeError, match="killed during the write"):
        write_atomic({"global_step": 2, "weights": torch.zeros(1000), "late": Explodes()}, path)
    assert Path(f"{path}.tmp").exists()  # the half-written temp file
    state = load_checkpoint(str(path))
    assert state["global_step"] == 1 and torch.equal(state["weights"], good["weights"])

    broken = tmp_path / "broken.pt"  # what a write without temp file + rename could leave behind
    broken.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(SystemExit) as exit_info:
        module_of(SCRIPTS[0]).train(make_args(SCRIPTS[0], tmp_path, resume=str(broken)))
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2
    assert len(lines) == 1 and lines[0].startswith(f"error: cannot read checkpoint '{broken}'"), lines


# Each optional dependency, an env id that needs it, and the line a user must see.
OPTIONAL = [
    ("ale_py", "ALE/Breakout-v5", "pip install -e '.[atari]'"),
    ("mujoco", "Hopper-v5", "pip install -e '.[mujoco]'"),
    ("Box2D", "LunarLander-v3", "pip install -e '.[box2d]'"),
]

# Runs each script in one interpreter in which the optional packages cannot be imported.
_SHIM = """
import contextlib, io, json, runpy, sys
for name in {modules!r}:
    sys.modules[name] = None  # `import name` now raises ImportError
results = []
for script, env_id in {cases!r}:
    err = io.StringIO()
    sys.argv = [script, "--env-id", env_id, "--runs-dir", {runs_dir!r}]
    code = 0
    with contextlib.redirect_stderr(err):
        try:
            runpy.run_path(script, run_name="__main__")
        except SystemExit as exit:
            code = exit.code
        except BaseException as exc:
            code = repr(exc)
    results.append([script, env_id, code, err.getvalue()])
print(json.dumps(results))
"""


def test_missing_optional_dependency(tmp_path):
    import json

    cases = [
        (f"algos/{s.name}.py", env_id)
        for s in SCRIPTS
        for module, env_id, _ in OPTIONAL
        if module in s.optional
    ]
    code = _SHIM.format(modules=[m for m, _, _ in OPTIONAL], cases=cases, runs_dir=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    expected = {env_id: (module, command) for module, env_id, command in OPTIONAL}
    for script, env_id, exit_code, err in json.loads(out.stdout.strip().splitlines()[-1]):
        module, command = expected[env_id]
        lines = err.strip().splitlines()
        assert exit_code == 2 and len(lines) == 1, (script, env_id, exit_code, err)
        assert lines[0].startswith("error: ") and f"'{module}'" in lines[0] and lines[0].endswith(command), (
            lines
        )


def test_load_optimizer_keeps_the_runs_learning_rates():
    """--resume with a new learning rate uses it: the saved moments come back, the saved rate does not."""
    w = torch.nn.Parameter(torch.ones(3))
    saved = torch.optim.Adam([w], lr=1e-3)
    w.grad = torch.ones(3)
    saved.step()
    fresh = torch.optim.Adam([torch.nn.Parameter(torch.ones(3))], lr=0.5)
    load_optimizer(fresh, saved.state_dict())
    assert fresh.param_groups[0]["lr"] == 0.5
    assert torch.equal(next(iter(fresh.state.values()))["exp_avg"], saved.state[w]["exp_avg"])


def test_resume_refuses_an_optimizer_of_another_shape(straight_runs, tmp_path, capsys):
    """A checkpoint whose optimizer state does not fit the script's parameters (e.g. written by an older
    version of the script, as ppo_continuous's one flat parameter before fd838e9) ends in one line."""
    (script,) = [s for s in SCRIPTS if s.name == "ppo"]
    state = load_checkpoint(checkpoint_of(straight_runs(script)))
    flat = torch.nn.Parameter(torch.zeros(10))
    flat.grad = torch.ones(10)
    old_style = torch.optim.Adam([flat])
    old_style.step()
    state["optimizer"] = old_style.state_dict()
    path = tmp_path / "old" / "checkpoints" / "latest.pt"
    path.parent.mkdir(parents=True)
    write_atomic(state, path)
    with pytest.raises(SystemExit) as exit_info:
        module_of(script).train(make_args(script, tmp_path / "runs", resume=str(path)))
    assert_one_line_error(capsys.readouterr().err, "its optimizer does not fit this script's")
    assert exit_info.value.code == 2

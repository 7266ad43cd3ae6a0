"""What a run prints and writes around training: progress lines with the share of the budget and the
time left, one closing line, summary.json without NaN (common/runs.py ``Run``)."""

import dataclasses
import json
import re

from conftest import run_script

from common.runs import Run


@dataclasses.dataclass
class Args:
    runs_dir: str
    env_id: str = "CartPole-v1"
    exp_name: str = "lines"
    seed: int = 1
    total_timesteps: int = 1000
    torch_threads: int = 1
    torch_deterministic: bool = True
    cuda: bool = False


def strict_json(text: str):
    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_progress_shows_share_and_time_left(runs_dir, capsys):
    run = Run(Args(runs_dir))
    run.start_time -= 10.0  # 500 steps in 10 s: 50 sps, 500 steps left = 10 s
    run.progress(500, "extra")
    line = capsys.readouterr().out.strip()
    assert line.startswith("step       500  50%  return") and line.endswith("extra")
    assert re.search(r"sps +\d+  left +1\ds  ", line), line  # ~10 s at ~50 sps
    run.finish(500)


def test_finish_prints_one_closing_line_and_writes_null_for_nan(runs_dir, capsys):
    run = Run(Args(runs_dir))
    summary = run.finish(0)  # no episode finished: the mean return is NaN
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("done: return nan (last 0 episodes), 0 steps in 0s")
    assert f"run folder {summary['run_dir']}; tensorboard --logdir {runs_dir}" in out[0]
    written = strict_json((run.dir / "summary.json").read_text())
    assert written["final_return"] is None and written["global_step"] == 0
    assert summary["final_return"] != summary["final_return"]  # the returned dict keeps NaN (the tuner's)


def test_capture_video_without_display_renders_off_screen(monkeypatch):
    """--capture-video on a machine without a display: MuJoCo through EGL, pygame's SDL on its dummy
    driver (no libwayland 'error: XDG_RUNTIME_DIR is invalid' line), set by the scripts' first check."""
    import os

    from algos import ppo
    from common.checks import check_args

    for name in ("DISPLAY", "WAYLAND_DISPLAY", "MUJOCO_GL", "SDL_VIDEODRIVER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    check_args(ppo.Args(capture_video=False))
    assert "MUJOCO_GL" not in os.environ
    check_args(ppo.Args(capture_video=True))
    assert os.environ["MUJOCO_GL"] == "egl" and os.environ["SDL_VIDEODRIVER"] == "dummy"


def test_evaluation_counts_agent_steps_and_prints_each_episode(capsys):
    """Under a frame skip (Atari's 4) the raw episode is 4x longer than what the agent played: the
    lengths are agent steps, and every finished episode prints a line (a long evaluation is not silent)."""
    import gymnasium as gym
    from conftest import CountingEnv

    from common.evaluation import run_episodes

    class SkipFour(gym.Wrapper):
        def step(self, action):
            total = 0.0
            for _ in range(4):
                obs, reward, terminated, truncated, info = self.env.step(action)
                total += reward
                if terminated or truncated:
                    break
            return obs, total, terminated, truncated, info

    env = SkipFour(gym.wrappers.RecordEpisodeStatistics(CountingEnv(terminate_at=8)))
    result = run_episodes(env, lambda obs: 0, episodes=3, seed=0)
    assert result["returns"] == [8.0, 8.0, 8.0] and result["lengths"] == [2, 2, 2]
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines == [f"episode {i}/3: return 8.00, 2 steps" for i in (1, 2, 3)]


def test_help_names_the_algorithm_and_where_tuned_settings_are():
    """`--help` starts with the script's first docstring line and says where the per-env settings are."""
    out = run_script("a2c_continuous.py", "--help", timeout=120)
    assert out.returncode == 0
    assert "A2C" in out.stdout.split("╭")[0] and "Tuned settings per env: docs/BENCHMARKS.md" in out.stdout

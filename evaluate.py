"""Evaluate a saved agent ("enjoy" mode): mean +/- std of the raw episodic return over K episodes.

    python evaluate.py runs/CartPole-v1__ppo__1__1700000000/checkpoints/latest.pt --episodes 10
    python evaluate.py CHECKPOINT --stochastic        # sample actions instead of the greedy action
    python evaluate.py CHECKPOINT --capture-video     # mp4 files of every episode in the run's videos/
    python evaluate.py CHECKPOINT --render            # a window (needs a display)

The checkpoint names the script that wrote it (``algos/<script>.py``) and the Args it was trained
with; common/evaluation.py builds the env, that script's ``policy`` the network, and plays the episodes.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common.checkpoints import load_checkpoint
from common.envs import render_off_screen
from common.evaluation import evaluate


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="a checkpoint written by an algos/ script (checkpoints/latest.pt)")
    parser.add_argument("--episodes", type=int, default=10, help="episodes to play (default 10)")
    parser.add_argument("--stochastic", action="store_true", help="sample actions from the policy")
    parser.add_argument(
        "--capture-video", action="store_true", help="record mp4 files into the run's videos/"
    )
    parser.add_argument("--render", action="store_true", help="show the episodes in a window")
    parser.add_argument("--seed", type=int, default=10_000, help="seed of the env and of action sampling")
    cli = parser.parse_args(argv)
    if cli.capture_video:
        render_off_screen()  # before anything imports mujoco

    state = load_checkpoint(cli.checkpoint, mmap=True)  # a cheap look at what wrote it
    script, env_id = state.get("script", "?"), state.get("args", {}).get("env_id", "?")
    del state
    result = evaluate(
        cli.checkpoint, cli.episodes, not cli.stochastic, cli.capture_video, cli.render, cli.seed
    )
    mode = "stochastic" if cli.stochastic else "greedy"
    print(
        f"{script} on {env_id}: return {result['mean']:.2f} +/- {result['std']:.2f} "
        f"over {len(result['returns'])} episodes ({mode})",
        flush=True,
    )
    return result


if __name__ == "__main__":
    main()

"""algos/ppo.py: learns CartPole, runs as a user runs it, refuses bad input in one line."""

import glob

from conftest import assert_one_line_error, assert_run_folder, run_script

from algos.ppo import Args, train


def test_ppo_learns_cartpole(runs_dir):
    """CartPole-v1, seed 1, 200k steps, 8 envs, lr 1e-3: mean of the last 100 episodes >= 400.

    Measured on the 2-core CI machine: ~13 s, final return 473 (seeds 2, 3: 396, 449).
    """
    args = Args(seed=1, total_timesteps=200_000, num_envs=8, learning_rate=1e-3, runs_dir=runs_dir)
    summary = train(args)
    assert summary["global_step"] == 200_000 // (8 * 128) * (8 * 128)
    assert summary["final_return"] >= 400, summary


def test_ppo_options_run(runs_dir):
    """clip_vloss off, normalised and symlog value targets, layer norm, target_kl: a short run is finite."""
    args = Args(
        total_timesteps=2048,
        clip_vloss=False,
        normalize_v_targets=True,
        symlog_transform=True,
        layer_norm=True,
        target_kl=0.01,
        activation="relu",
        hidden_sizes=(32,),
        runs_dir=runs_dir,
    )
    summary = train(args)
    assert summary["global_step"] == 2048


def test_ppo_cli_smoke(tmp_path):
    """`python algos/ppo.py ...` as a user types it writes TensorBoard events, args.json and curve.csv."""
    out = run_script(
        "ppo.py", "--total-timesteps", "1024", "--num-envs", "2", "--runs-dir", str(tmp_path), "--save-model"
    )
    assert out.returncode == 0, out.stderr
    run_dir = assert_run_folder(tmp_path, "CartPole-v1__ppo__1")
    assert glob.glob(f"{run_dir}/checkpoints/latest.pt")


def test_ppo_bad_input(tmp_path):
    for argv, expected in [
        (["--env-id", "CartPol-v1"], "unknown env id 'CartPol-v1' (did you mean CartPole-v1"),
        (["--env-id", "Pendulum-v1"], "use algos/ppo_continuous.py"),
        (["--num-minibatches", "3"], "--num-minibatches 3 does not divide the batch"),
    ]:
        out = run_script("ppo.py", *argv, "--runs-dir", str(tmp_path))
        assert out.returncode == 2, out.stderr
        assert_one_line_error(out.stderr, expected)

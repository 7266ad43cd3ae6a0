"""benchmark.sh and benchmarks/: the smoke suite runs and appends, --print-jobs lines run on their
own, results are appended and never rewritten, the report renders "not run" cells and curves."""

import json
import multiprocessing
import os
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT

from benchmarks import record, report, run, run_job
from common.scripts import to_argv


def _lines(path):
    return path.read_text().splitlines()


def test_smoke_suite_runs_and_results_append(tmp_path, capsys):
    """`./benchmark.sh smoke --algos ppo` writes one result line (with --eval-episodes 2, the final
    policy's greedy return too); a second run of the same job (--rerun) appends a second line and leaves
    the first byte for byte; without --rerun the finished job is skipped."""
    results, runs = tmp_path / "results", tmp_path / "runs"
    out = subprocess.run(
        [
            str(ROOT / "benchmark.sh"),
            "smoke",
            "--algos",
            "ppo",
            "--results-dir",
            str(results),
            "--runs-dir",
            str(runs),
            "--eval-episodes",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, PYTHON=sys.executable),
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 ok, 0 failed" in out.stdout
    (first,) = _lines(results / "smoke.jsonl")
    rec = json.loads(first)
    for key in (
        "script",
        "env_id",
        "seed",
        "total_timesteps",
        "final_return",
        "wall_s",
        "sps",
        "torch_threads",
    ):
        assert key in rec
    for key in ("device", "git_commit", "hardware", "date", "curve", "curve_path"):
        assert key in rec
    assert rec["script"] == "algos/ppo.py" and rec["env_id"] == "CartPole-v1" and rec["global_step"] == 2048
    assert rec["curve"] and 0 < rec["curve"][-1][0] <= 2048
    assert len(rec["eval_returns"]) == 2 and rec["eval_return"] == sum(rec["eval_returns"]) / 2

    # Same job again, in-process: a second line, the first untouched.
    argv = rec["argv"]
    run_job.main(["--suite", "smoke", "--script", "algos/ppo.py", "--results-dir", str(results), "--", *argv])
    lines = _lines(results / "smoke.jsonl")
    assert len(lines) == 2 and lines[0] == first
    assert json.loads(lines[1])["seed"] == 1

    # A run that finished outside the runner is recorded from its folder, with the same numbers.
    again = run_job.main(
        ["--suite", "smoke", "--script", "algos/ppo.py", "--results-dir", str(tmp_path / "other"), "--from-run", rec["run_dir"]]
    )  # fmt: skip
    assert (
        json.loads(json.dumps(again["args"])) == rec["args"] and again["final_return"] == rec["final_return"]
    )
    assert again["global_step"] == rec["global_step"] and again["curve"] == rec["curve"]

    # The runner skips what is already in the results file.
    assert run.main(["smoke", "--algos", "ppo", "--results-dir", str(results), "--runs-dir", str(runs)]) == 0
    assert "nothing to run" in capsys.readouterr().out
    assert len(_lines(results / "smoke.jsonl")) == 2


def test_sb3_hparams_of_an_atari_script_use_the_cnn_policy_on_our_env():
    """The Atari scripts map to SB3's CnnPolicy (Nature CNN ending in our dense width, no extra
    layers) on the same env (sticky actions, no-op starts); the replay buffer is capped at the run."""
    import tyro

    from benchmarks.sb3_params import sb3_hparams

    module = run_job.load_script("algos/dqn_atari.py")
    args = tyro.cli(module.Args, args=["--total-timesteps", "10000", "--repeat-action-probability", "0.1"])
    hp, _ = sb3_hparams("DQN", args)
    assert hp["policy"] == "CnnPolicy" and hp["buffer_size"] == 10_000
    assert hp["policy_kwargs"] == {"net_arch": [], "features_extractor_kwargs": {"features_dim": 512}}
    assert hp["atari"] == {"repeat_action_probability": 0.1, "noop_max": args.noop_max}
    hp, _ = sb3_hparams("PPO", tyro.cli(run_job.load_script("algos/ppo.py").Args, args=[]))
    assert "policy" not in hp and "atari" not in hp  # the MLP scripts keep SB3's MlpPolicy


def test_env_only_measures_an_atari_script_in_a_fresh_process(tmp_path):
    """--measure env-only registers ALE's ids itself (as the scripts' train() does): in a fresh
    process, Atari's env-only throughput line is written instead of 'Namespace ALE not found'."""
    pytest.importorskip("ale_py")
    argv = [sys.executable, str(ROOT / "benchmarks" / "run_job.py"), "--suite", "throughput", "--measure"]
    argv += ["env-only", "--script", "algos/ppo_atari.py", "--results-dir", str(tmp_path), "--"]
    argv += ["--env-id", "ALE/Pong-v5", "--num-envs", "2", "--total-timesteps", "64"]
    out = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-500:]
    (line,) = _lines(tmp_path / "throughput.jsonl")
    rec = json.loads(line)
    assert rec["measure"] == "env-only" and rec["global_step"] == 64 and rec["sps"] > 0


def test_print_jobs_lines_run_standalone(tmp_path, capsys):
    """--print-jobs prints one command per job (seeds 1..N) and nothing else on stdout; a printed
    line run by a shell on its own appends its result."""
    results = tmp_path / "results"
    argv = ["classic", "--algos", "ppo", "--envs", "CartPole-v1", "--seeds", "2", "--scale", "0.005"]
    argv += [
        "--print-jobs",
        "--python",
        sys.executable,
        "--results-dir",
        str(results),
        "--runs-dir",
        str(tmp_path),
    ]
    assert run.main(argv) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    assert all(line.startswith(sys.executable) and "benchmarks/run_job.py" in line for line in lines)
    assert "--seed 1 " in lines[0] and "--seed 2 " in lines[1] and "--total-timesteps 1000" in lines[0]
    out = subprocess.run(lines[1], shell=True, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    (line,) = _lines(results / "classic.jsonl")
    assert json.loads(line)["seed"] == 2


def test_unfinished_run_is_resumed(tmp_path):
    """A job whose run was cut short (a checkpoint, no finished summary) continues from the newest such
    checkpoint; a finished run, or one with another budget, is not taken."""
    opts = dict(suite="classic", seeds=1, scale=0.01, envs="CartPole-v1", algos="ppo", results_dir=None,
                runs_dir=str(tmp_path), cuda=False, reps=1, sb3_python=None, set={})  # fmt: skip
    (job,), _ = run.plan(type("Opts", (), opts)())
    steps = int(job.argv[job.argv.index("--total-timesteps") + 1])
    args = dict(run.script_defaults("ppo"), env_id="CartPole-v1", seed=1, total_timesteps=steps)

    def folder(stamp: int, summary: dict | None, **changes) -> str:
        path = tmp_path / f"CartPole-v1__ppo__1__{stamp}"
        (path / "checkpoints").mkdir(parents=True)
        (path / "checkpoints" / "latest.pt").write_bytes(b"")
        os.utime(path / "checkpoints" / "latest.pt", (stamp, stamp))
        (path / "args.json").write_text(json.dumps({**args, **changes}))
        if summary is not None:
            (path / "summary.json").write_text(json.dumps(summary))
        return str(path / "checkpoints" / "latest.pt")

    assert run.unfinished_run(job, tmp_path) is None
    stopped = folder(100, {"stopped": "SIGTERM"}, runs_dir="elsewhere", resume="an/earlier/piece.pt")
    assert str(run.unfinished_run(job, tmp_path)) == stopped
    folder(200, {"stopped": None})  # finished
    folder(300, None, total_timesteps=steps + 1)  # another budget
    assert str(run.unfinished_run(job, tmp_path)) == stopped
    killed = folder(400, None)  # killed after a --checkpoint-every checkpoint: no summary
    assert str(run.unfinished_run(job, tmp_path)) == killed


def test_plan_skips_missing_scripts_and_filters(tmp_path, monkeypatch):
    """Suites name scripts: one not written yet is skipped with a note; --envs takes short names."""
    (tmp_path / "algos").mkdir()
    shutil.copy(ROOT / "algos" / "ppo.py", tmp_path / "algos" / "ppo.py")
    monkeypatch.setattr(run, "ROOT", tmp_path)
    parser_defaults = dict(
        suite="classic", seeds=3, scale=0.5, envs="cartpole,LunarLander-v3", algos=None, results_dir=None,
        runs_dir=None, cuda=False, reps=3, sb3_python=None, set={"torch_threads": 2, "no_such_field": 1},
    )  # fmt: skip
    opts = type("Opts", (), parser_defaults)()
    jobs, notes = run.plan(opts)
    assert [j.label for j in jobs] == [
        f"ppo {env} seed {s} ({steps:,} steps)" for env, steps in [("CartPole-v1", 100_000), ("LunarLander-v3", 150_000)]
        for s in (1, 2, 3)
    ]  # fmt: skip
    assert "skipped algos/dqn.py: not written yet" in notes
    # --set: every job that has the field gets it; a field the script lacks is noted, not passed.
    assert all(j.argv[-2:] == ["--torch-threads", "2"] for j in jobs)
    assert any("no --no-such-field" in n for n in notes + [n for j in jobs for n in j.notes])
    assert (
        run.parse_setting("anneal_lr=False") == ("anneal_lr", False) == run.parse_setting("anneal-lr=false")
    )
    assert run.match_env("ALE/Breakout-v5", ["breakout"]) and not run.match_env("ALE/Breakout-v5", ["pong"])
    with pytest.raises(SystemExit):
        run.plan(type("Opts", (), {**parser_defaults, "algos": "ppo2"})())


def test_throughput_plan_interleaves_and_notes_missing_sb3():
    """Throughput: per repetition ours, env-only, SB3 in turn; SB3 skipped with a note when its
    python is absent or cannot import stable_baselines3."""
    opts = dict(suite="throughput", seeds=1, scale=1.0, envs="CartPole-v1", algos="ppo", results_dir=None,
                runs_dir=None, cuda=False, reps=2, sb3_python=None, set={})  # fmt: skip
    jobs, notes = run.plan(type("Opts", (), opts)())
    assert [j.label.split(" ppo")[0] for j in jobs] == [
        "rep 1 ours",
        "rep 1 env-only",
        "rep 2 ours",
        "rep 2 env-only",
    ]
    assert any("pass --sb3-python" in n for n in notes)
    jobs, notes = run.plan(type("Opts", (), {**opts, "sb3_python": sys.executable})())
    assert len(jobs) == 4 and any("cannot import stable_baselines3" in n for n in notes)


def _append_many(path, n, size):
    for i in range(n):
        record.append_record({"i": i, "pad": "x" * size}, "conc", path)


def test_parallel_appends_never_interleave(tmp_path):
    """Four processes appending 100 kB lines at once: every line of the file is whole JSON."""
    procs = [multiprocessing.Process(target=_append_many, args=(tmp_path, 20, 100_000)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    lines = _lines(tmp_path / "conc.jsonl")
    assert len(lines) == 80 and all(json.loads(line)["pad"] == "x" * 100_000 for line in lines)


def _fixture_record(suite, script, env_id, seed, steps, final, measure="train", sps=5000):
    return {
        "suite": suite,
        "script": script,
        "measure": measure,
        "rep": 1,
        "env_id": env_id,
        "seed": seed,
        "total_timesteps": steps,
        "global_step": steps,
        "final_return": final,
        "wall_s": 40.0,
        "sps": sps,
        "torch_threads": 1,
        "device": "cpu",
        "git_commit": "abc",
        "hardware": "Test CPU, 2 cores, no GPU",
        "date": "2026-01-01T00:00:00+00:00",
        "argv": ["--env-id", env_id, "--seed", str(seed)],
        "curve": [[steps // 2, final / 2], [steps, final]] if final is not None else [],
    }


def test_report_renders_fixture(tmp_path):
    """A small results folder -> a page with mean ± std over seeds, "not run" cells, the peers'
    scores with sources, a linked PNG per family with results, and throughput ratios."""
    results = tmp_path / "results"
    results.mkdir()
    rows = [
        _fixture_record("classic", "algos/ppo.py", "CartPole-v1", 1, 200_000, 480.0),
        _fixture_record("classic", "algos/ppo.py", "CartPole-v1", 2, 200_000, 500.0),
        _fixture_record("classic", "algos/ppo.py", "Acrobot-v1", 1, 30_000, -120.0),
    ]
    (results / "classic.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"torn li')
    tp = [
        _fixture_record("throughput", "algos/ppo.py", "CartPole-v1", 1, 50_000, None, m, sps)
        for m, values in [
            ("train", (4000, 5000, 6000)),
            ("env-only", (90_000, 100_000, 80_000)),
            ("sb3", (1000,) * 3),
        ]
        for sps in values
    ]
    (results / "throughput.jsonl").write_text("".join(json.dumps(r) + "\n" for r in tp))
    out = tmp_path / "docs" / "BENCHMARKS.md"
    text = report.render(results, out, tmp_path / "docs" / "images")

    assert out.read_text() == text
    ppo_cartpole = next(line for line in text.splitlines() if line.startswith("| CartPole-v1 | ppo | 200k |"))
    assert "**490.0 ± 10.0**" in ppo_cartpole and "| 2 (1,2) |" in ppo_cartpole
    assert "498.94 (200k)" in ppo_cartpole and "490 ± 6.1 (500k)" in ppo_cartpole  # SLM-Lab, CleanRL
    assert "| Acrobot-v1 | ppo | 300k | not run |" in text  # the suite's budget, not yet run
    assert "| Acrobot-v1 | ppo | 30k (×0.1) | **-120.0** |" in text
    assert "| CartPole-v1 | dqn | 200k | not run" in text
    assert "not run" in text.split("## Atari")[1]  # games without results nor peers are listed
    assert (tmp_path / "docs" / "images" / "curves_classic_control.png").stat().st_size > 1000
    assert "](images/curves_classic_control.png)" in text
    assert not (tmp_path / "docs" / "images" / "curves_mujoco.png").exists()
    tp_row = next(line for line in text.splitlines() if line.startswith("| ppo | CartPole-v1 | 50k |"))
    assert "| 5,000 | 90,000 | 1,000 | 5.00 | 0.06 | 3/3/3 |" in tp_row  # medians and their ratios
    assert "kengz/SLM-Lab" in text and "rl-baselines3-zoo" in text and "--print-jobs" in text


@pytest.mark.slow
def test_smoke_suite_every_script(tmp_path):
    """Every script present in algos/ runs the smoke suite (2048 steps each) without failing."""
    results = tmp_path / "results"
    code = run.main(
        ["smoke", "--results-dir", str(results), "--runs-dir", str(tmp_path / "runs"), "--jobs", "2"]
    )
    assert code == 0
    scripts = {json.loads(line)["script"] for line in _lines(results / "smoke.jsonl")}
    assert scripts == {f"algos/{p.name}" for p in (ROOT / "algos").glob("*.py") if p.stem in run.ALL_SCRIPTS}


def test_changed_defaults_make_jobs_new_and_supersede_old_results(tmp_path):
    """A result counts as done only while the script's defaults still have the values it ran with;
    the report shows the most recent configuration of a cell and counts the older runs."""
    defaults = run.script_defaults("ppo")
    assert defaults["env_id"] == "CartPole-v1" and isinstance(defaults["hidden_sizes"], list | tuple)
    job = dict(defaults, seed=1, total_timesteps=1000)
    old = {"script": "algos/ppo.py", "argv": [], "args": json.loads(json.dumps(job))}
    (tmp_path / "classic.jsonl").write_text(json.dumps(old) + "\n")
    done = run.finished_keys(tmp_path, "classic")
    assert run.job_key("algos/ppo.py", job) in done
    assert run.job_key("algos/ppo.py", dict(job, runs_dir="elsewhere")) in done  # where files go
    assert run.job_key("algos/ppo.py", dict(job, seed=2)) not in done
    # A field the record lacks (an option added since, off by default) counts as today's default.
    older = dict(old, args={k: v for k, v in old["args"].items() if k != "clip_coef"})
    (tmp_path / "classic.jsonl").write_text(json.dumps(older) + "\n")
    assert run.job_key("algos/ppo.py", job) in run.finished_keys(tmp_path, "classic")
    changed = dict(defaults, learning_rate=defaults["learning_rate"] * 2)
    assert run.job_key("algos/ppo.py", dict(changed, seed=1, total_timesteps=1000)) not in done

    runs = [
        {"args": dict(defaults, seed=s), "date": "2026-01-01", "final_return": 1.0} for s in (1, 2, 3)
    ] + [{"args": dict(changed, seed=1), "date": "2026-02-01", "final_return": 2.0}]
    shown, superseded = report.latest_config(runs)
    assert [r["final_return"] for r in shown] == [2.0] and superseded == 3


def test_report_prefers_the_configuration_the_suite_runs_today():
    """A reverted try (newer, but not today's setting) does not hide the runs of the current setting;
    without any run of the current setting the newest configuration is shown."""
    settings = report.current_settings("LunarLander-v3", "dqn_per")
    current = dict(settings)
    tried = dict(current, gradient_steps=current["gradient_steps"] + 2)
    runs = [
        {"args": dict(current, seed=s), "seed": s, "date": "2026-01-01", "final_return": 250.0}
        for s in (1, 2)
    ]
    runs.append({"args": dict(tried, seed=1), "seed": 1, "date": "2026-02-01", "final_return": -189.0})
    shown, superseded = report.latest_config(runs, settings)
    assert [r["final_return"] for r in shown] == [250.0, 250.0] and superseded == 1
    shown, _ = report.latest_config(runs[2:], settings)
    assert [r["final_return"] for r in shown] == [-189.0]


def test_throughput_drops_sb3_lines_timed_without_setup_once_newer_ones_exist():
    """SB3 lines written before sb3_job's clock took in making the envs (as ours does) do not mix into
    the median once lines with that clock exist in the sitting."""
    ours = _fixture_record("throughput", "algos/a2c_atari.py", "ALE/Breakout-v5", 1, 10_000, 1.0, sps=450)
    old = _fixture_record("throughput", "algos/a2c_atari.py", "ALE/Breakout-v5", 1, 10_000, 1.0, "sb3", 500)
    new = {**old, "sps": 400, "clock": "from making the envs"}
    (row,) = [
        r for r in report.throughput_table([ours, old, old, new], report.Hardware()) if "a2c_atari" in r
    ]
    assert "| 400 | 1.12 |" in row, row
    (row,) = [r for r in report.throughput_table([ours, old], report.Hardware()) if "a2c_atari" in r]
    assert "| 500 | 0.90 |" in row, row


def test_throughput_rows_show_the_threads_of_ours_and_sb3():
    """Ours at our defaults beside SB3 at torch's default threads: the row says how many each used."""
    ours = _fixture_record("throughput", "algos/sac_continuous.py", "Hopper-v5", 1, 5_000, 1.0, sps=90)
    sb3 = {**_fixture_record("throughput", "algos/sac_continuous.py", "Hopper-v5", 1, 5_000, 1.0, "sb3", 60),
           "torch_threads": 2, "clock": "from making the envs"}  # fmt: skip
    (row,) = report.throughput_table([{**ours, "torch_threads": 2}, sb3], report.Hardware())[2:]
    assert "| 2 / 2 | 90 |" in row and "| 1.50 |" in row, row


def test_report_mujoco_1m_table_puts_ours_beside_the_peers_1m_scores(tmp_path):
    """mujoco1m: one row per env with ours (mean ± std, seeds) at the suite's budget beside the peers'
    1M scores and their env version, "not run" where we have none, and its own curves PNG."""
    results = tmp_path / "results"
    results.mkdir()
    rows = [
        _fixture_record("mujoco1m", "algos/ppo_continuous.py", "Hopper-v5", 1, 1_000_000, 2400.0),
        _fixture_record("mujoco1m", "algos/ppo_continuous.py", "Hopper-v5", 2, 1_000_000, 2600.0),
        _fixture_record("mujoco1m", "algos/sac_continuous.py", "Hopper-v5", 1, 300_000, 2000.0),
    ]
    rows[2]["eval_return"] = 3000.0  # its final policy played greedily (--eval-episodes)
    (results / "mujoco1m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    v4 = _fixture_record("peer_versions", "algos/ppo_continuous.py", "Humanoid-v4", 1, 1_000_000, 800.0)
    (results / "peer_versions.jsonl").write_text(json.dumps(v4) + "\n")
    out = tmp_path / "docs" / "BENCHMARKS.md"
    full = report.render(results, out, tmp_path / "docs" / "images")
    versions = full.split("## On the peers' env versions")[1]
    assert "| Humanoid-v4 | ppo_continuous | 1M | **800.0** (1) | CleanRL 716.11 ± 49.08 |" in versions
    text = full.split("## MuJoCo v5 at 1M")[1]

    header = next(line for line in text.splitlines() if line.startswith("| env |"))
    assert "ppo_continuous: ours (1M)" in header and "CleanRL PPO (1M)" in header
    assert "sac_continuous: ours (300k)" in header and "SB3 / RL Zoo A2C (1M)" in header
    hopper = next(line for line in text.splitlines() if line.startswith("| Hopper-v5 |"))
    cells = [c.strip() for c in hopper.strip("|").split("|")]
    assert cells[1] == "not run" and cells[2] == "733 (Hopper-v3)"  # a2c: ours, RL Zoo
    assert cells[3] == "**2500 ± 100** (2)" and "2382.86 ± 271.74 (Hopper-v4)" in cells  # ppo, CleanRL
    assert (
        "**2000** (1); greedy 3000 (1)" in cells and "2310.46 ± 342.82 (Hopper-v2)" in cells
    )  # sac, CleanRL
    assert "(1M" not in hopper  # the budget is in the header, not repeated per cell
    assert (tmp_path / "docs" / "images" / "curves_mujoco_1m.png").stat().st_size > 1000
    assert not (tmp_path / "docs" / "images" / "curves_mujoco.png").exists()
    assert "](images/curves_mujoco_1m.png)" in text


def test_report_tuned_commands_reproduce_the_suites_overrides():
    """Each (suite, env, script) with overrides gets one `python algos/X.py` line with its flags."""
    from benchmarks.suites import SUITES

    lines = report.tuned_commands()
    suite, entry, script, overrides = next(
        (s, e, script, o)
        for s in report.LEARNING_SUITES
        for e in SUITES[s]["entries"]
        for script, o in e.get("overrides", {}).items()
    )
    flags = to_argv(overrides, run.script_fields(script), [])
    command = (
        f"python algos/{script}.py --env-id {entry['env_id']} --total-timesteps {entry['budgets'][script]}"
    )
    assert f"| {suite} | {entry['env_id']} | `{command} {' '.join(flags)}` |" in lines


def test_job_keys_hold_every_argument_of_the_run_defaults_included(tmp_path):
    """A planned job's key is the key of the Args its command line parses to (overrides with lists,
    --set, bf16's host-dependent default); a result run with the other bf16 value is not done here."""
    import dataclasses

    import tyro

    from common.scripts import load_script

    opts = dict(suite="classic", seeds=1, scale=0.01, envs="Pendulum-v1,LunarLander-v3", results_dir=None,
                algos="dqn,sac_continuous", runs_dir=None, cuda=False, reps=1, sb3_python=None,
                set={"torch_threads": 1})  # fmt: skip
    jobs, _ = run.plan(type("Opts", (), opts)())
    assert {j.argv[4] for j in jobs} == {"algos/dqn.py", "algos/sac_continuous.py"}
    for job in jobs:
        script, argv = job.argv[4], job.argv[job.argv.index("--") + 1 :]
        args = tyro.cli(load_script(script).Args, args=argv)
        assert run.job_key(script, dataclasses.asdict(args)) == job.key, job.label
    sac = next(j for j in jobs if "sac_continuous" in j.label)
    args = dataclasses.asdict(
        tyro.cli(load_script("algos/sac_continuous.py").Args, args=sac.argv[sac.argv.index("--") + 1 :])
    )
    assert dict(sac.key[1])["bf16"] == args["bf16"]
    other_host = {"script": "algos/sac_continuous.py", "args": dict(args, bf16=not args["bf16"])}
    (tmp_path / "classic.jsonl").write_text(json.dumps(other_host) + "\n")
    assert sac.key not in run.finished_keys(tmp_path, "classic")
    (tmp_path / "classic.jsonl").write_text(json.dumps(dict(other_host, args=args)) + "\n")
    assert sac.key in run.finished_keys(tmp_path, "classic")


FAKE_SB3 = "/fake/sb3/bin/python"


def _sb3_plan(monkeypatch, **changes):
    """run.plan of classic ppo on CartPole, 2 seeds, with an SB3 python that imports stable_baselines3."""
    monkeypatch.setitem(run._sb3_checked, FAKE_SB3, True)
    opts = dict(suite="classic", seeds=2, scale=0.005, envs="CartPole-v1", algos="ppo", results_dir=None,
                runs_dir=None, cuda=False, reps=1, sb3_python=FAKE_SB3, set={}) | changes  # fmt: skip
    return run.plan(type("Opts", (), opts)())


def test_learning_suite_plans_an_sb3_job_beside_each_of_ours(monkeypatch, tmp_path, capsys):
    """--sb3-python in a learning suite: per (script, env, seed) ours, then SB3's same algorithm at the
    same budget and seed with our resolved Args translated, recording its curve; --print-jobs prints
    both; an SB3 line in the results file marks its job done by what SB3 ran (a new translation: new)."""
    import tyro

    from benchmarks.sb3_params import sb3_hparams

    jobs, _ = _sb3_plan(monkeypatch)
    assert [j.label for j in jobs] == [
        "ppo CartPole-v1 seed 1 (1,000 steps)", "SB3 PPO CartPole-v1 seed 1 (1,000 steps)",
        "ppo CartPole-v1 seed 2 (1,000 steps)", "SB3 PPO CartPole-v1 seed 2 (1,000 steps)",
    ]  # fmt: skip
    ours, sb3 = jobs[2], jobs[3]
    assert sb3.python == FAKE_SB3 and ours.python is None
    flag = lambda name: sb3.argv[sb3.argv.index(name) + 1]  # noqa: E731
    assert sb3.argv[0] == "benchmarks/sb3_job.py" and "--curve" in sb3.argv and "--rep" not in sb3.argv
    assert (flag("--seed"), flag("--total-timesteps"), flag("--env-id")) == ("2", "1000", "CartPole-v1")
    script_argv = ours.argv[ours.argv.index("--") + 1 :]
    assert json.loads(flag("--argv")) == script_argv
    args = tyro.cli(run_job.load_script("algos/ppo.py").Args, args=script_argv)
    assert json.loads(flag("--hparams")) == json.loads(json.dumps(sb3_hparams("PPO", args)[0]))
    assert _sb3_plan(monkeypatch, sb3_python=None)[0] == [j for j in jobs if j.python is None]

    assert run.main(["classic", "--algos", "ppo", "--envs", "CartPole-v1", "--seeds", "2", "--scale", "0.005",
                     "--print-jobs", "--sb3-python", FAKE_SB3]) == 0  # fmt: skip
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 4 and [line.startswith(FAKE_SB3) for line in printed] == [False, True] * 2

    line = {"measure": "sb3", "script": "algos/ppo.py", "sb3_algo": "PPO", "env_id": "CartPole-v1", "seed": 2,
            "total_timesteps": 1000, "num_envs": int(flag("--num-envs")), "sb3_hparams": json.loads(flag("--hparams"))}  # fmt: skip
    (tmp_path / "classic.jsonl").write_text(json.dumps(line) + "\n")
    done = run.finished_keys(tmp_path, "classic")
    assert sb3.key in done and jobs[1].key not in done and ours.key not in done
    other = dict(line, sb3_hparams=dict(line["sb3_hparams"], gamma=0.5))
    (tmp_path / "classic.jsonl").write_text(json.dumps(other) + "\n")
    assert sb3.key not in run.finished_keys(tmp_path, "classic")


def _fake_sb3(monkeypatch) -> list:
    """Stand-ins for the parts of stable_baselines3 that sb3_job.py uses: an algorithm whose learn()
    steps 2 envs, ends an episode of return = env steps every 10 env steps and calls the callback as
    SB3 does (locals' infos, num_timesteps). Returns the callbacks learn() was given."""
    import collections
    import types

    given = []

    class BaseCallback:
        def __init__(self):
            self.locals, self.num_timesteps = {}, 0

        def on_step(self):
            return self._on_step()

    class Algorithm:
        def __init__(self, policy, env, policy_kwargs, seed, device, verbose, **hparams):
            self.env, self.num_timesteps, self.ep_info_buffer = env, 0, collections.deque(maxlen=100)

        def learn(self, total_timesteps, callback=None):
            given.append(callback)
            while self.num_timesteps < total_timesteps:
                self.num_timesteps += self.env.num_envs
                infos = [
                    {"episode": {"r": float(self.num_timesteps)}} if self.num_timesteps % 10 == 0 else {},
                    {},
                ]
                if callback is not None:
                    callback.locals, callback.num_timesteps = {"infos": infos}, self.num_timesteps
                    callback.on_step()
                self.ep_info_buffer.extend(info["episode"] for info in infos if "episode" in info)

    modules = {
        "stable_baselines3": dict(PPO=Algorithm, __version__="fake"),
        "stable_baselines3.common": {},
        "stable_baselines3.common.env_util": dict(make_vec_env=lambda env_id, n_envs, seed, vec_env_cls: types.SimpleNamespace(num_envs=n_envs)),
        "stable_baselines3.common.vec_env": dict(DummyVecEnv=None, VecEnvWrapper=object, VecNormalize=None),
        "stable_baselines3.common.callbacks": dict(BaseCallback=BaseCallback),
        "stable_baselines3.common.evaluation": dict(evaluate_policy=lambda model, env, n, deterministic, return_episode_rewards: ([float(i) for i in range(n)], [1] * n)),
    }  # fmt: skip
    for name, attributes in modules.items():
        module = types.ModuleType(name)
        module.__dict__.update(attributes)
        monkeypatch.setitem(sys.modules, name, module)
    return given


def test_sb3_job_records_the_learning_curve_only_when_asked(monkeypatch, tmp_path):
    """--curve: the mean of the last 100 episodic returns at each step an episode ended, thinned to
    200 points with the last kept; final_return as before. Without it (throughput) no callback runs."""
    from benchmarks import sb3_job

    given = _fake_sb3(monkeypatch)
    argv = ["--suite", "classic", "--script", "algos/ppo.py", "--algo", "PPO", "--env-id", "CartPole-v1",
            "--num-envs", "2", "--total-timesteps", "3000", "--seed", "3", "--results-dir", str(tmp_path)]  # fmt: skip
    rec = sb3_job.main([*argv, "--curve"])
    assert rec["measure"] == "sb3" and rec["seed"] == 3 and rec["final_return"] == 2505.0  # 2010..3000
    curve = rec["curve"]
    assert len(curve) == 200 and curve[0] == [10, 10.0] and curve[-1] == [3000, 2505.0]
    assert curve[50] == [760, 385.0]  # episode 76 (of 300; stride 1.5): returns 10..760
    assert json.loads(_lines(tmp_path / "classic.jsonl")[0])["curve"] == curve
    rec = sb3_job.main(argv)
    assert given[-1] is None and rec["curve"] == [] and rec["final_return"] == 2505.0
    rec = sb3_job.main([*argv, "--eval-episodes", "3"])  # then the final policy, deterministic
    assert rec["eval_returns"] == [0.0, 1.0, 2.0] and rec["eval_return"] == 1.0


def test_report_puts_sb3_beside_ours_where_it_ran(tmp_path):
    """SB3 lines in a learning suite: an "SB3 (same budget)" column (mean ± std over seeds, seeds) in
    that suite's table, "–" in cells without SB3; of SB3's configurations the cell shows the one
    translated from our shown runs' Args; SB3's curve joins ours in the PNG. Suites without SB3 lines
    keep their table as it was."""
    from benchmarks.sb3_params import sb3_hparams

    results = tmp_path / "results"
    results.mkdir()
    args = dict(report.current_settings("CartPole-v1", "ppo", "classic"), total_timesteps=200_000)
    ours = [dict(_fixture_record("classic", "algos/ppo.py", "CartPole-v1", s, 200_000, 480.0 + 20 * s), args=args)
            for s in (1, 2)]  # fmt: skip
    translated = json.loads(json.dumps(sb3_hparams("PPO", report.SimpleNamespace(**args))[0]))

    def sb3(seed, final, hparams, date):
        return dict(_fixture_record("classic", "algos/ppo.py", "CartPole-v1", seed, 200_000, final, "sb3"),
                    sb3_algo="PPO", sb3_hparams=hparams, num_envs=args["num_envs"], date=date)  # fmt: skip

    sb3_lines = [sb3(1, 390.0, translated, "2026-01-02"), sb3(2, 410.0, translated, "2026-01-02"),
                 sb3(1, 100.0, dict(translated, gamma=0.5), "2026-01-03")]  # newer, not ours' translation  # fmt: skip
    (results / "classic.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ours + sb3_lines))
    text = report.render(results, tmp_path / "BENCHMARKS.md", tmp_path / "images")
    assert report.sb3_cell(sb3_lines[:2], ours) == "400.0 ± 10.0 (2)"
    assert report.sb3_cell(sb3_lines[2:], ours) == "100.0 (1; other settings)"  # not the translation of ours

    classic = text.split("## Classic control")[1].split("\n## ")[0]
    assert (
        "| ours: final return (mean ± std) | SB3 (same budget): mean ± std (seeds) | runs (seeds) |"
        in classic
    )
    row = next(line for line in classic.splitlines() if line.startswith("| CartPole-v1 | ppo | 200k |"))
    assert "| **510.0 ± 10.0** | 400.0 ± 10.0 (2) | 2 (1,2) |" in row, row
    assert "| CartPole-v1 | dqn | 200k | not run | – | 0 |" in classic
    mujoco = text.split("## MuJoCo v5\n")[1].split("\n## ")[0]
    assert "SB3 (same budget)" not in mujoco and "| Ant-v5 | a2c_continuous | 10M | not run | 0 | |" in mujoco
    assert "dashed curve = SB3's run" in classic
    (ours_curves, sb3_curves) = report._curve_groups(ours + sb3_lines, "CartPole-v1", "classic")[
        ("ppo", 200_000)
    ]
    assert len(ours_curves) == 2 and sorted(c[-1][1] for c in sb3_curves) == [390.0, 410.0]
    assert (tmp_path / "images" / "curves_classic_control.png").stat().st_size > 1000

"""Run a benchmark suite: expand it into jobs, run them in parallel, append one result line per run.

    ./benchmark.sh classic --seeds 4                   # every present script, SLM-Lab budgets
    ./benchmark.sh classic --algos ppo --envs CartPole-v1,Acrobot-v1 --seeds 2
    ./benchmark.sh mujoco --scale 0.1 --jobs 2         # a tenth of the budgets, 2 jobs at a time
    ./benchmark.sh atari --envs Breakout,Pong --cuda
    ./benchmark.sh throughput --algos ppo --sb3-python /tmp/sb3/bin/python
    ./benchmark.sh mujoco1m --algos sac_continuous --envs Hopper --seeds 2 --sb3-python /tmp/sb3/bin/python
    ./benchmark.sh classic --seeds 4 --print-jobs > jobs.txt   # one command per line, for any scheduler

A job is ``python benchmarks/run_job.py --suite S --script algos/X.py -- --env-id E --seed K
--total-timesteps T``. With ``--sb3-python``, a learning suite also runs Stable-Baselines3's same
algorithm beside each job that has an SB3 counterpart (same env, seed, budget, translated Args;
``benchmarks/sb3_job.py --curve``). Jobs whose result is already in the results file are skipped (``--rerun`` runs
them again; ``--print-jobs`` prints them all), so a suite can be finished over many sittings. A job whose run was
cut short (stopped by SIGTERM or Ctrl-C, which write a checkpoint, or killed after a ``--set checkpoint_every=N``
checkpoint) continues from its latest checkpoint when the suite runs again. Scripts that do not exist yet are
skipped with a note. Each job's output goes to a log file under benchmarks/scratch/logs/.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.record import NOT_CONFIG, RESULTS_DIR, ROOT, config_value, read_records, results_dir_of  # noqa: E402
from benchmarks.suites import ALL_SCRIPTS, SB3_ALGORITHM, SUITES  # noqa: E402
from common.errors import fail  # noqa: E402
from common.scripts import defaults, load_script, to_argv  # noqa: E402

# Args fields that say where files go or how a run is watched: not part of a job's identity.
NOT_JOB = NOT_CONFIG - {"seed", "cuda"}


@dataclass
class Job:
    label: str
    argv: list[str]  # without the interpreter
    log_name: str
    key: tuple | None = None  # identity for skipping finished jobs (None: always run)
    python: str | None = None  # interpreter override (SB3's venv)
    notes: list[str] = field(default_factory=list)


def script_path(script: str) -> Path:
    return ROOT / "algos" / f"{script}.py"


def script_fields(script: str) -> set[str]:
    """Field names of a script's Args."""
    return {f.name for f in dataclasses.fields(load_script(script_path(script)).Args)}


def script_defaults(script: str) -> dict:
    """Every Args default of a script as this machine computes it (the script is imported once)."""
    return defaults(load_script(script_path(script)).Args)


def job_key(script: str, values: dict) -> tuple:
    """Identity of a training job: the script and every argument that changes the run, defaults
    included (``values``: the resolved Args), minus where files go. A result line's key uses its
    recorded args over today's defaults, so a changed default (or a host-dependent one, such as
    ``bf16``) makes the job new."""
    kept = sorted((k, config_value(v)) for k, v in values.items() if k not in NOT_JOB)
    return (f"algos/{Path(script).name}", tuple(kept))


def match_env(env_id: str, wanted: list[str]) -> bool:
    """``--envs`` matches the full id or its short name: Breakout = ALE/Breakout-v5, Hopper = Hopper-v5."""
    short = env_id.removeprefix("ALE/").rsplit("-v", 1)[0].lower()
    return any(w.lower() in (env_id.lower(), short) for w in wanted)


def rel(path: str | os.PathLike) -> str:
    """A path as the printed commands use it: relative to the repository root when inside it."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def eval_argv(opts) -> list[str]:
    """``--eval-episodes K`` for a learning job (ours or SB3's) when the suite asks for the greedy evaluation."""
    episodes = getattr(opts, "eval_episodes", 0)
    return ["--eval-episodes", str(episodes)] if episodes else []


def plan(opts) -> tuple[list[Job], list[str]]:
    """The suite's jobs after --envs / --algos / --seeds / --scale, and notes on what was skipped.

    Learning suites: one job per (env, script, seed), each followed by SB3's run of it when
    ``--sb3-python`` is given. Throughput: per repetition and script, our run, the env-only run and
    SB3's run one after the other (interleaved, so drift hits all three).
    """
    suite = SUITES[opts.suite]
    notes: list[str] = []
    wanted_algos = [a.removesuffix(".py") for a in opts.algos.split(",")] if opts.algos else None
    unknown = [a for a in wanted_algos or [] if a not in ALL_SCRIPTS]
    if unknown:
        fail(f"unknown --algos {','.join(unknown)} (known: {', '.join(ALL_SCRIPTS)})")
    wanted_envs = opts.envs.split(",") if opts.envs else None
    entries = [e for e in suite["entries"] if wanted_envs is None or match_env(e["env_id"], wanted_envs)]
    if wanted_envs and not entries:
        fail(f"--envs {opts.envs} matches no env of suite {opts.suite}")
    common = ["--results-dir", rel(opts.results_dir)] if opts.results_dir else []
    evaluation = eval_argv(opts)
    throughput = opts.suite == "throughput"
    missing, fields_cache, defaults_cache = set(), {}, {}
    jobs: list[Job] = []
    for rep in range(1, opts.reps + 1) if throughput else [None]:
        for entry in entries:
            env_id = entry["env_id"]
            for script, budget in entry["budgets"].items():
                if wanted_algos is not None and script not in wanted_algos:
                    continue
                if not (ROOT / "algos" / f"{script}.py").exists():
                    missing.add(script)
                    continue
                if script not in fields_cache:
                    fields_cache[script] = script_fields(script)
                    defaults_cache[script] = script_defaults(script)
                fields = fields_cache[script]
                steps = max(int(round(budget * opts.scale)), 1)
                job_notes: list[str] = []
                settings = {**entry.get("overrides", {}).get(script, {}), **opts.set}
                settings |= {"cuda": True} if opts.cuda else {}
                extra = to_argv(settings, fields, job_notes)
                resolved = {**defaults_cache[script], **{k: v for k, v in settings.items() if k in fields}}
                if opts.runs_dir and "runs_dir" in fields:
                    extra += ["--runs-dir", rel(opts.runs_dir)]
                path = f"algos/{script}.py"
                head = ["benchmarks/run_job.py", "--suite", opts.suite, "--script", path, *common]
                train_head = [*head, *evaluation]  # learning jobs: and the greedy evaluation, if asked
                name = f"{script}__{env_id.replace('/', '_')}"
                what = f"{script} {env_id} ({steps:,} steps)"
                if not throughput:
                    for seed in range(1, opts.seeds + 1):
                        script_argv = [
                            "--env-id",
                            env_id,
                            "--seed",
                            str(seed),
                            "--total-timesteps",
                            str(steps),
                            *extra,
                        ]
                        jobs.append(
                            Job(
                                f"{script} {env_id} seed {seed} ({steps:,} steps)",
                                [*train_head, "--", *script_argv],
                                f"{name}__{seed}",
                                key=job_key(
                                    path, resolved | dict(env_id=env_id, seed=seed, total_timesteps=steps)
                                ),
                                notes=job_notes,
                            )
                        )
                        if opts.sb3_python and (
                            sb3 := sb3_job(opts, script, path, script_argv, None, common, notes)
                        ):
                            jobs.append(sb3)
                    continue
                script_argv = ["--env-id", env_id, "--seed", "1", "--total-timesteps", str(steps), *extra]
                rep_argv = ["--rep", str(rep)]
                jobs.append(
                    Job(
                        f"rep {rep} ours {what}",
                        [*head, *rep_argv, "--", *script_argv],
                        f"{name}__ours__{rep}",
                    )
                )
                jobs[-1].notes = job_notes
                env_argv = [*head, *rep_argv, "--measure", "env-only", "--", *script_argv]
                jobs.append(Job(f"rep {rep} env-only {what}", env_argv, f"{name}__env__{rep}"))
                sb3 = sb3_job(opts, script, path, script_argv, rep, common, notes)
                if sb3 is not None:
                    jobs.append(sb3)
    for script in sorted(missing):
        notes.append(f"skipped algos/{script}.py: not written yet")
    return jobs, notes


_sb3_checked: dict[str, bool] = {}


def sb3_key(script: str, algo: str, env_id: str, seed, steps, num_envs, hparams: dict) -> tuple:
    """Identity of an SB3 learning job: what SB3 runs (algorithm, env, seed, budget, envs and the
    hyperparameters translated from our Args), so a change of ours that SB3 has no counterpart
    for (bf16, threads) does not run SB3 again."""
    hp = json.dumps(hparams, sort_keys=True, separators=(",", ":"))
    return ("sb3", f"algos/{Path(script).name}", algo, env_id, seed, steps, num_envs, hp)


def sb3_job(opts, script, path, script_argv, rep, common, notes) -> Job | None:
    """The Stable-Baselines3 run matching our job (``script_argv``: its script arguments), or None
    with a note. ``rep``: the throughput repetition; None: a learning job (records the curve)."""
    algo = SB3_ALGORITHM.get(script)
    if algo is None:
        if rep in (1, None):
            notes.append(f"no SB3 run for {script}: SB3 has no counterpart wired for it")
        return None
    if not opts.sb3_python:
        if rep == 1 and not any("--sb3-python" in n for n in notes):
            notes.append("SB3 skipped: pass --sb3-python PATH (the python of a venv with stable-baselines3)")
        return None
    if opts.sb3_python not in _sb3_checked:
        try:
            ok = subprocess.run(
                [opts.sb3_python, "-c", "import stable_baselines3"], capture_output=True, timeout=120
            )
            _sb3_checked[opts.sb3_python] = ok.returncode == 0
        except (OSError, subprocess.SubprocessError):
            _sb3_checked[opts.sb3_python] = False
    if not _sb3_checked[opts.sb3_python]:
        if rep == 1:
            notes.append(f"SB3 skipped: {opts.sb3_python} cannot import stable_baselines3")
        return None

    import tyro

    from benchmarks.sb3_params import sb3_hparams

    args = tyro.cli(load_script(path).Args, args=script_argv)
    hparams, gaps = sb3_hparams(algo, args)
    job_notes = [f"{script} has {g}: SB3 keeps its default" for g in dict.fromkeys(gaps)]
    num_envs = getattr(args, "num_envs", 1)
    argv = [
        "benchmarks/sb3_job.py",
        "--suite",
        opts.suite,
        "--script",
        path,
        "--algo",
        algo,
        "--env-id",
        args.env_id,
        "--num-envs",
        str(num_envs),
        "--total-timesteps",
        str(args.total_timesteps),
        "--torch-threads",
        str(getattr(args, "torch_threads", 1)),
        # learning: the seed, the curve and our device; throughput: as it always ran (seed 1, CPU)
        *(["--rep", str(rep)] if rep is not None else ["--seed", str(args.seed), "--curve"]),
        *(["--device", "cuda"] if rep is None and getattr(args, "cuda", False) else []),
        *(eval_argv(opts) if rep is None else []),
        "--hparams",
        json.dumps(hparams, separators=(",", ":")),
        "--argv",
        json.dumps(script_argv),
        *common,
    ]
    name = f"{script}__{args.env_id.replace('/', '_')}__sb3__{rep if rep is not None else args.seed}"
    what = f"SB3 {algo} {args.env_id}"
    steps = f"({args.total_timesteps:,} steps)"
    if rep is not None:
        return Job(f"rep {rep} {what} {steps}", argv, name, python=opts.sb3_python, notes=job_notes)
    key = sb3_key(path, algo, args.env_id, args.seed, args.total_timesteps, num_envs, hparams)
    label = f"{what} seed {args.seed} {steps}"
    return Job(label, argv, name, key=key, python=opts.sb3_python, notes=job_notes)


def parse_setting(text: str) -> tuple[str, object]:
    """``NAME=VALUE`` -> (name, value); VALUE read as JSON (2, 1e-3, true, [64, 64]) or else as a string."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        fail(f"--set {text}: expected NAME=VALUE, e.g. --set torch_threads=2")
    if value.lower() in ("true", "false"):  # Python's spelling too: --set anneal_lr=False
        value = value.lower()
    try:
        return name.replace("-", "_"), json.loads(value)
    except json.JSONDecodeError:
        return name.replace("-", "_"), value


def finished_keys(results_dir: Path, suite: str) -> set[tuple]:
    """Keys of the jobs already in the results file: each line's recorded args over today's defaults
    of its script (a field the record lacks, an option added since, counts as today's default)."""
    keys, defaults_of = set(), {}
    for record in read_records(results_dir / f"{suite}.jsonl"):
        if record.get("measure") == "sb3":  # SB3's learning runs: keyed by what SB3 ran
            what = [record[k] for k in ("script", "sb3_algo", "env_id", "seed", "total_timesteps")]
            keys.add(sb3_key(*what, record.get("num_envs", 1), record.get("sb3_hparams")))
            continue
        if record.get("measure", "train") != "train" or not record.get("args"):
            continue
        script = Path(record["script"]).stem
        if script not in defaults_of:
            defaults_of[script] = script_defaults(script) if script_path(script).exists() else None
        if defaults_of[script] is not None:
            today = defaults_of[script]
            keys.add(
                job_key(record["script"], today | {k: v for k, v in record["args"].items() if k in today})
            )
    return keys


def unfinished_run(job: Job, runs_dir: Path) -> Path | None:
    """The latest checkpoint of a run of ``job`` that did not finish (stopped by SIGTERM / Ctrl-C, or cut off
    after a ``--checkpoint-every`` checkpoint) in ``runs_dir``, the newest if several; None if there is none.
    Its Args must give the job's key: same script fields, same config (budget and seed included)."""
    if job.key is None or job.python is not None:  # SB3's runs cannot be resumed
        return None
    script, config = job.key[0], dict(job.key[1])
    fields = script_fields(Path(script).stem)
    found = []
    for folder in runs_dir.glob(f"{str(config['env_id']).replace('/', '_')}__*__{config['seed']}__*"):
        checkpoint, summary = folder / "checkpoints" / "latest.pt", folder / "summary.json"
        try:
            args = json.loads((folder / "args.json").read_text())
            if summary.exists() and not json.loads(summary.read_text()).get("stopped"):
                continue  # a finished run
        except (OSError, ValueError):
            continue
        if checkpoint.exists() and set(args) == fields and job_key(script, args) == job.key:
            found.append(checkpoint)
    return max(found, key=lambda p: p.stat().st_mtime, default=None)


def run_one(job: Job, python: str, log_dir: Path) -> tuple[Job, int, float, str]:
    log = log_dir / f"{job.log_name}.log"
    start = time.time()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with open(log, "w") as out:
        code = subprocess.run(
            [job.python or python, *job.argv], stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env
        ).returncode
    lines = log.read_text(errors="replace").strip().splitlines()
    result = next((line for line in reversed(lines) if line.startswith("result ")), "")
    tail = result if code == 0 else " | ".join(lines[-3:])
    return job, code, time.time() - start, tail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="benchmark.sh",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "suite", choices=list(SUITES), help="; ".join(f"{k}: {v['about']}" for k, v in SUITES.items())
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=None,
        help="seeds 1..N per (script, env) (default 4, SLM-Lab's; smoke: 1)",
    )
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every budget (0.1: a quick look)")
    parser.add_argument(
        "--jobs",
        type=int,
        default=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        help="jobs at a time (default: cores)",
    )
    parser.add_argument("--envs", default=None, help="comma-separated env ids or short names (Breakout,Pong)")
    parser.add_argument("--algos", default=None, help="comma-separated script names (ppo,dqn)")
    parser.add_argument(
        "--print-jobs", action="store_true", help="print one self-contained command per job, run none"
    )
    parser.add_argument(
        "--python",
        default=None,
        help="interpreter in printed/run commands (default: this one; printed: python)",
    )
    parser.add_argument(
        "--results-dir", default=None, help=f"folder of <suite>.jsonl (default {rel(RESULTS_DIR)})"
    )
    parser.add_argument(
        "--runs-dir", default=None, help="the scripts' --runs-dir (default: their own, runs/)"
    )
    parser.add_argument("--cuda", action="store_true", help="pass --cuda to scripts that have it")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an Args value for every job that has the field, after the suite's overrides "
        "(e.g. --set torch_threads=2 --set bf16=false); SB3 runs get the matching settings",
    )
    parser.add_argument(
        "--rerun", action="store_true", help="run jobs whose result is already in the results file"
    )
    parser.add_argument(
        "--eval-episodes",
        type=int,
        default=0,
        help="learning suites: after each of our runs, K greedy episodes of its final policy (eval_return)",
    )
    parser.add_argument(
        "--reps", type=int, default=3, help="throughput: repetitions (the table shows the median)"
    )
    parser.add_argument(
        "--sb3-python",
        default=None,
        help="python of a venv with stable-baselines3: throughput: SB3's SPS; learning suites: SB3's "
        "same algorithm run beside each job (same env, seed, budget, translated Args)",
    )
    opts = parser.parse_args(argv)
    opts.set = dict(parse_setting(text) for text in opts.set)
    if opts.seeds is None:
        opts.seeds = 1 if opts.suite == "smoke" else 4
    if opts.seeds < 1 or opts.scale <= 0 or opts.jobs < 1 or opts.reps < 1:
        fail("--seeds, --scale, --jobs and --reps must be positive")
    if opts.eval_episodes < 0:
        fail(f"--eval-episodes must be 0 (no evaluation) or more, not {opts.eval_episodes}")

    jobs, notes = plan(opts)
    results_dir = results_dir_of(opts.results_dir)
    if not opts.rerun and not opts.print_jobs and opts.suite != "throughput":  # printing runs nothing
        done = finished_keys(results_dir, opts.suite)
        before = len(jobs)
        jobs = [j for j in jobs if j.key not in done]
        if before != len(jobs):
            notes.append(
                f"{before - len(jobs)} job(s) already in {rel(results_dir)}/{opts.suite}.jsonl (--rerun to repeat)"
            )
    if not opts.print_jobs:  # a run cut short in an earlier sitting continues from its last checkpoint
        runs_dir = Path(opts.runs_dir) if opts.runs_dir else ROOT / "runs"
        resumed = [(job, path) for job in jobs if (path := unfinished_run(job, runs_dir))]
        for job, path in resumed:
            job.argv += ["--resume", str(path)]
        if resumed:
            notes.append(f"{len(resumed)} job(s) continue an unfinished run from its checkpoint (--resume)")
    notes = list(dict.fromkeys(notes + [n for j in jobs for n in j.notes]))
    if opts.print_jobs:  # stdout: the commands only; notes go to stderr
        python = opts.python or "python"
        for note in notes:
            print(f"# {note}", file=sys.stderr)
        for job in jobs:
            print(shlex.join([job.python or python, *job.argv]))
        return 0

    for note in notes:
        print(f"note: {note}", flush=True)
    if not jobs:
        print("nothing to run", flush=True)
        return 0
    workers = 1 if opts.suite == "throughput" else min(opts.jobs, len(jobs))
    if workers > 1:  # the scripts' auto thread count (--torch-threads 0) shares the cores between the jobs
        from common.device import physical_cores

        os.environ.setdefault("OMP_NUM_THREADS", str(max(1, physical_cores() // workers)))
    if opts.suite == "throughput" and opts.jobs > 1:
        print("note: throughput jobs run one at a time (interleaved), whatever --jobs says", flush=True)
    log_dir = ROOT / "benchmarks" / "scratch" / "logs" / opts.suite
    if results_dir.resolve() != RESULTS_DIR.resolve():
        log_dir = results_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    python = opts.python or sys.executable
    print(f"{len(jobs)} job(s), {workers} at a time; logs in {rel(log_dir)}", flush=True)
    failed = 0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(run_one, job, python, log_dir) for job in jobs]
        for i, future in enumerate(as_completed(futures), 1):
            job, code, wall, tail = future.result()
            status = "ok" if code == 0 else f"FAILED (exit {code})"
            failed += code != 0
            print(f"[{i}/{len(jobs)}] {status} {job.label} in {wall:.0f} s: {tail}", flush=True)
    print(
        f"done: {len(jobs) - failed} ok, {failed} failed; results in {rel(results_dir)}/{opts.suite}.jsonl",
        flush=True,
    )
    print("render the page: python benchmarks/report.py", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

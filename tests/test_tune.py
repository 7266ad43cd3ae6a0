"""tuning/tune.py: workers share a study, killed workers lose nothing, failures are recorded,
bad input ends in one line. Most tests tune a fake script (the contract without RL) written into
tmp_path, so they are fast and deterministic; one runs two real ppo.py trials."""

import contextlib
import importlib.util
import json
import os
import shlex
import signal
import subprocess
import sys
import time

import optuna
import pytest
from conftest import ROOT

from tuning.space import check_space

TUNE = str(ROOT / "tuning" / "tune.py")

FAKE = '''
"""The script contract without RL: the return grows with the step towards 100 - 100 (x - 0.3)^2."""
import math
import os
import time
from dataclasses import dataclass


@dataclass
class Args:
    env_id: str = "Fake-v0"
    exp_name: str = "fake"
    seed: int = 1
    total_timesteps: int = 1000
    x: float = 0.5
    """the parameter to tune"""
    mode: str = "ok"
    """ok | raise (an exception at step 500) | nan (a NaN final return) | badarg (exit 2) | stop"""
    runs_dir: str = "runs"


def train(args, report=None):
    from common.errors import fail

    if args.mode == "badarg":
        fail("--mode badarg is not allowed")
    if args.mode == "stop":  # what Run.finish raises after a SIGTERM
        from common.errors import Stopped

        raise Stopped("stopped by SIGTERM at step 100; no checkpoint written", "SIGTERM", {})
    value, step = 0.0, 0
    for step in range(100, args.total_timesteps + 1, 100):
        value = (100 - 100 * (args.x - 0.3) ** 2) * step / args.total_timesteps
        time.sleep(float(os.environ.get("FAKE_SLEEP", "0")))
        if args.mode == "raise" and step >= 500:
            raise ValueError("fake divergence")
        if report is not None and report(step, value):
            break
    if args.mode == "nan":
        value = math.nan
    return {"final_return": value, "global_step": step, "sps": 0, "wall_s": 0.0, "run_dir": ""}
'''


@pytest.fixture(scope="module")
def tune_module():
    spec = importlib.util.spec_from_file_location("fdrl_tune", TUNE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def fake(tmp_path):
    path = tmp_path / "fake.py"
    path.write_text(FAKE)
    return str(path)


def tune(tmp_path, *argv, sleep=0.0, wait=True, timeout=240):
    env = {**os.environ, "FAKE_SLEEP": str(sleep), "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, TUNE, *argv, "--runs-dir", str(tmp_path / "runs")]
    if not wait:
        log = open(tmp_path / f"worker_{time.monotonic_ns()}.log", "w")  # noqa: SIM115
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, text=True, cwd=tmp_path, env=env)
    return subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=timeout)


def load(storage: str, name: str = "fake-Fake-v0") -> optuna.Study:
    if storage.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend

        storage = optuna.storages.JournalStorage(JournalFileBackend(storage[len("journal:") :]))
    return optuna.load_study(study_name=name, storage=storage)


def trial_log(tmp_path, number: int, study: str = "fake-Fake-v0"):
    """The log file of a trial (``runs/tune/<storage tag>/<study>/logs/``), or None before it exists."""
    found = list((tmp_path / "runs" / "tune").glob(f"*/{study}/logs/trial_{number:04d}.log"))
    return found[0] if found else None


def evaluated(study) -> int:
    S = optuna.trial.TrialState
    return sum(
        t.state in (S.COMPLETE, S.PRUNED) or (t.state == S.FAIL and not t.user_attrs.get("lost"))
        for t in study.trials
    )


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_two_workers_share_one_study(tmp_path, fake, kind):
    """Two processes on one study finish exactly --n-trials evaluated trials: unique numbers, none
    running or lost, and each worker prints the same best trial."""
    storage = f"sqlite:///{tmp_path / 'tune.db'}" if kind == "sqlite" else f"journal:{tmp_path / 'tune.log'}"
    argv = [fake, "--param", "x=float:0:1", "--n-trials", "8", "--storage", storage, "--report-every", "300"]
    workers = [tune(tmp_path, *argv, "--sampler-seed", str(i), sleep=0.02, wait=False) for i in range(2)]
    for worker in workers:
        assert worker.wait(timeout=240) == 0
    study = load(storage)
    numbers = [t.number for t in study.trials]
    assert numbers == list(range(len(numbers)))
    assert evaluated(study) == 8
    assert all(t.state.is_finished() for t in study.trials)
    lost = [t for t in study.trials if t.user_attrs.get("lost")]
    assert all("surplus" in t.user_attrs["fail_reason"] for t in lost)  # only a simultaneous last ask
    best = json.loads((tmp_path / "tune.fake-Fake-v0.best.json").read_text())
    assert best["trial"] == study.best_trial.number and best["params"]["x"] == study.best_trial.params["x"]


def test_sigkill_mid_trial_then_rerun_continues(tmp_path, fake):
    """A worker killed with SIGKILL mid-trial: the study stays readable, the trial is not complete;
    rerunning the command declares it lost (its process is gone) and reaches the target count."""
    storage = f"sqlite:///{tmp_path / 'tune.db'}"
    argv = [fake, "--param", "x=float:0:1", "--n-trials", "3", "--storage", storage, "--pruner", "none"]
    worker = tune(tmp_path, *argv, sleep=0.5, wait=False)
    deadline = time.time() + 120
    while not trial_log(tmp_path, 0) and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    study = load(storage)
    assert [t.state.name for t in study.trials] == ["RUNNING"]

    out = tune(tmp_path, *argv)
    assert out.returncode == 0, out.stderr
    assert "trial 0 LOST: worker" in out.stdout
    study = load(storage)
    dead = study.trials[0]
    assert dead.state == optuna.trial.TrialState.FAIL and dead.user_attrs["lost"]
    assert "died" in dead.user_attrs["fail_reason"]
    assert evaluated(study) == 3
    assert sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials) == 3


def test_silent_remote_worker_is_declared_lost(tmp_path, fake):
    """A RUNNING trial of another host whose heartbeat stopped is failed (lost) after the grace."""
    storage = f"sqlite:///{tmp_path / 'tune.db'}"
    study = optuna.create_study(storage=storage, study_name="fake-Fake-v0", direction="maximize")
    ghost = study.ask()
    ghost.set_user_attr("worker", "elsewhere:1")
    ghost.set_user_attr("heartbeat_unix", time.time() - 120)
    out = tune(
        tmp_path,
        fake,
        "--param",
        "x=float:0:1",
        "--n-trials",
        "1",
        "--storage",
        storage,
        "--heartbeat-grace",
        "30",
    )
    assert out.returncode == 0, out.stderr
    study = load(storage)
    assert study.trials[0].user_attrs["lost"] and "no heartbeat" in study.trials[0].user_attrs["fail_reason"]
    assert study.trials[1].state == optuna.trial.TrialState.COMPLETE


def test_failed_trials_are_recorded_and_the_study_goes_on(tmp_path, fake):
    """Training that raises or returns NaN: FAIL with the reason in user attr fail_reason; failed
    trials count towards --n-trials. A rerun with other fixed arguments is refused in one line."""
    storage = f"sqlite:///{tmp_path / 'tune.db'}"
    argv = [fake, "--param", "x=float:0:1", "--param", 'mode=["ok","raise","nan","ok"]', "--n-trials", "8"]
    argv += ["--storage", storage, "--pruner", "none", "--sampler", "random", "--sampler-seed", "0"]
    out = tune(tmp_path, *argv)
    assert out.returncode == 0, out.stderr
    study = load(storage)
    reasons = [
        t.user_attrs.get("fail_reason", "") for t in study.trials if t.state == optuna.trial.TrialState.FAIL
    ]
    assert any(r.startswith("ValueError: fake divergence") for r in reasons), reasons
    assert any(r.startswith("final_return is nan") for r in reasons), reasons
    assert evaluated(study) == 8 and study.best_trial.params["mode"] == "ok"
    assert out.stdout.count("FAILED") == len(reasons)

    out = tune(tmp_path, *argv, "--total-timesteps", "500")
    assert out.returncode == 2
    assert out.stderr.strip() == (
        "error: study 'fake-Fake-v0' was started with other fixed arguments: total_timesteps=1000 (now 500); "
        "use --study-name for a new study"
    )


def test_a_stopped_trial_is_lost_and_the_tuner_exits_130(tmp_path, fake):
    """A script stopped by a signal (``Stopped``): the trial is recorded lost, the tuner exits 130."""
    storage = f"sqlite:///{tmp_path / 'tune.db'}"
    out = tune(tmp_path, fake, "--param", "x=float:0:1", "--storage", storage, "--mode", "stop")
    assert out.returncode == 130, out.stdout + out.stderr
    assert "INTERRUPTED (SIGTERM)" in out.stdout and "rerun the same command" in out.stderr
    (trial,) = load(storage).trials
    assert trial.user_attrs["lost"] and trial.user_attrs["fail_reason"] == "interrupted by SIGTERM"


def test_train_ends_with_typed_outcomes(tmp_path):
    """The contract the tools rely on: train() returns its summary or raises BadInput (exit 2),
    TrainingFailed (exit 1) or Stopped (exit 1, with the summary it wrote)."""
    from algos.ppo import Args, train
    from common.errors import BadInput, Stopped, TrainingFailed, fail

    with pytest.raises(BadInput) as bad:
        train(Args(env_id="NoSuchEnv-v0", runs_dir=str(tmp_path)))
    assert bad.value.code == 2 and bad.value.message.startswith("unknown env id 'NoSuchEnv-v0'")
    with pytest.raises(TrainingFailed) as failed:
        fail("non-finite loss", 1)
    assert failed.value.code == 1 and str(failed.value) == "non-finite loss"

    def stop(step, mean_return):
        os.kill(os.getpid(), signal.SIGTERM)

    args = Args(total_timesteps=20_000, num_envs=4, num_steps=128, runs_dir=str(tmp_path))
    with pytest.raises(Stopped) as stopped:
        train(args, stop)
    assert stopped.value.code == 1 and stopped.value.signal_name == "SIGTERM"
    assert 0 < stopped.value.summary["global_step"] < 20_000


def test_same_study_name_in_two_storages_keeps_apart(tmp_path, fake):
    """Two storages in one folder, one study name: two log folders and two best-argument files."""
    for db in ("a.db", "b.db"):
        argv = [fake, "--param", "x=float:0:1", "--n-trials", "1", "--storage", f"sqlite:///{tmp_path / db}"]
        assert tune(tmp_path, *argv).returncode == 0
    assert sorted(p.name for p in tmp_path.glob("*.best.json")) == [
        "a.fake-Fake-v0.best.json",
        "b.fake-Fake-v0.best.json",
    ]
    logs = sorted(
        p.parent.parent.parent.name for p in (tmp_path / "runs" / "tune").glob("*/*/logs/trial_0000.log")
    )
    assert len(logs) == 2 and logs[0].startswith("a-") and logs[1].startswith("b-")


def test_a_trial_at_its_full_budget_is_not_pruned(tune_module):
    """The pruner is asked before the last step only: a trial that trained its whole budget is complete."""
    from types import SimpleNamespace

    asked = []
    trial = SimpleNamespace(report=lambda value, step: None, should_prune=lambda: asked.append(1) or True)
    tuning = SimpleNamespace(report_every=1024, trial_steps=2048)
    out = tune_module.Outcome()
    report = tune_module.Reporter(tuning, trial, out, [], 0)
    assert report(2048, 10.0) is False and out.pruned_at is None and not asked
    report = tune_module.Reporter(tuning, trial, out, [], 0)
    assert report(1024, 10.0) is True and out.pruned_at == 1024


def test_bad_input_ends_in_one_line(tmp_path, fake, tune_module, capsys):
    """Unknown script, unknown parameter name, unreachable storage, bad script argument, a script
    refusing the fixed arguments in the first trial: exit 2 and one line on stderr."""
    out = tune(tmp_path, str(tmp_path / "nope.py"))  # once as a user runs it
    assert out.returncode == 2 and out.stderr == f"error: no script at '{tmp_path / 'nope.py'}'\n"
    (tmp_path / "space.json").write_text('{"lr": {"type": "float", "low": 0.1, "high": 1.0}}')
    db = f"sqlite:///{tmp_path / 'tune.db'}"
    runs = ["--runs-dir", str(tmp_path / "runs")]
    cases = [
        ([fake, "--space", str(tmp_path / "space.json")], "unknown parameter 'lr' in"),
        ([fake, "--param", "y=float:0:1"], "unknown parameter 'y' in --param"),
        ([fake, "--param", "x=float:1:0"], "needs numbers low < high"),
        (
            [fake, "--param", "x=float:0:1", "--storage", "postgresql://nohost/db"],
            "cannot open storage 'postgresql://nohost/db'",
        ),
        (
            [fake, "--param", "x=float:0:1", "--storage", f"sqlite:///{tmp_path}/no/dir/t.db"],
            "cannot open storage",
        ),
        ([fake, "--param", "x=float:0:1", "--storage", db, "--nope", "1"], "Unrecognized options: --nope"),
        (
            [fake, "--param", "x=float:0:1", "--storage", db, "--mode", "badarg", *runs],
            "trial 0: exit 2: --mode badarg is not allowed",
        ),
    ]
    for argv, expected in cases:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:
            tune_module.main(argv)
        lines = capsys.readouterr().err.strip().splitlines()
        assert exit_info.value.code == 2, (argv, lines)
        assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], (argv, lines)


def test_arguments_split_and_fixed_arguments_leave_the_space(fake, tune_module):
    argv = [
        fake,
        "--n-trials",
        "3",
        "--hidden-sizes",
        "64",
        "64",
        "--seeds=2",
        "--no-anneal-lr",
        "--",
        "--storage",
        "x",
    ]
    tuner, forwarded = tune_module.split_argv(argv)
    assert tuner == [fake, "--n-trials", "3", "--seeds=2"]
    assert forwarded == ["--hidden-sizes", "64", "64", "--no-anneal-lr", "--storage", "x"]
    fields = {"hidden_sizes", "anneal_lr", "storage", "learning_rate"}
    assert tune_module.given_fields(forwarded, fields) == {"hidden_sizes", "anneal_lr", "storage"}
    assert tune_module.flag_tokens("hidden_sizes", (64, 64)) == ["--hidden-sizes", "64", "64"]
    assert tune_module.flag_tokens("anneal_lr", False) == ["--no-anneal-lr"]


def test_every_space_names_fields_of_its_script(tune_module):
    """Each tuning/spaces/<script>.json only names Args fields of algos/<script>.py."""
    import dataclasses

    checked = 0
    for space_file in sorted((ROOT / "tuning" / "spaces").glob("*.json")):
        script = ROOT / "algos" / f"{space_file.stem}.py"
        if not script.exists():
            continue
        args_cls = tune_module.load_script(str(script)).Args
        space = json.loads(space_file.read_text())
        space.pop("_comment", None)
        fields = {f.name: f for f in dataclasses.fields(args_cls)}
        check_space(space, fields, str(space_file), str(script))
        checked += 1
    assert checked >= 1


def test_tunes_ppo_and_prints_a_command_that_reproduces_the_best_trial(tmp_path):
    """Two real ppo.py trials of 2048 CartPole steps (batch fixed at 4 x 128: a sampled 16 x 256
    batch would exceed the budget, a NaN return); the printed command parses to the best args."""
    import tyro

    from algos.ppo import Args

    storage = f"journal:{tmp_path / 'tune.log'}"
    out = tune(tmp_path, str(ROOT / "algos" / "ppo.py"), "--total-timesteps", "2048", "--n-trials", "2",
               "--storage", storage, "--learning-rate", "0.001", "--num-envs", "4", "--num-steps", "128",
               "--sampler-seed", "0")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("COMPLETE") + out.stdout.count("PRUNED") == 2, out.stdout
    best = json.loads((tmp_path / "tune.ppo-CartPole-v1.best.json").read_text())
    assert "learning_rate" not in best["params"] and best["args"]["learning_rate"] == 0.001
    argv = shlex.split(best["command"])
    assert argv[:2] == ["python", str(ROOT / "algos" / "ppo.py")] and best["command"] in out.stdout
    parsed = tyro.cli(Args, args=argv[2:])
    assert json.loads(json.dumps(vars(parsed))) == best["args"]
    run_dirs = list((tmp_path / "runs" / "tune").glob("tune-*/ppo-CartPole-v1/CartPole-v1__ppo-t*"))
    assert len(run_dirs) == 2 and all(list(d.glob("events.out.tfevents.*")) for d in run_dirs)


def test_missing_optuna_is_one_line(tmp_path):
    """Without optuna installed the tuner says how to install it (exit 2), no ImportError traceback."""
    code = (
        "import sys, runpy; sys.modules['optuna'] = None; "
        f"sys.argv = ['tune.py', {str(ROOT / 'algos' / 'ppo.py')!r}]; "
        f"runpy.run_path({TUNE!r}, run_name='__main__')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip() == "error: tuning needs the optional package 'optuna': pip install -e '.[tune]'"


# The many-machines commands of the README, run by test_postgres_workers_survive_a_killed_one
# against a real PostgreSQL server ($FDRL_TEST_POSTGRES; .ci/run starts one with pgserver).
PG_TUNE = (
    "python tuning/tune.py algos/ppo.py --env-id CartPole-v1 --total-timesteps 4096 --num-envs 4 "
    "--num-steps 128 --n-trials 6 --storage {storage} --study-name fdrl-ci-ppo --sampler-seed {seed}"
)


def test_postgres_workers_survive_a_killed_one(tmp_path):
    """Two workers on a PostgreSQL study; one is killed (SIGKILL) mid-trial. The other finishes the
    study: every trial finished before the kill is kept as it was, the killed one is failed with
    ``lost`` set and not counted, and the printed best command reproduces the best value."""
    storage = os.environ.get("FDRL_TEST_POSTGRES")
    if not storage:
        pytest.skip("no PostgreSQL server: set FDRL_TEST_POSTGRES=postgresql://... (.ci/run starts one)")
    pytest.importorskip("psycopg", reason="the PostgreSQL driver: pip install -e '.[postgres]'")
    with contextlib.suppress(KeyError):
        optuna.delete_study(study_name="fdrl-ci-ppo", storage=storage)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    workers = []
    for seed in (1, 2):
        argv = shlex.split(PG_TUNE.format(storage=storage, seed=seed))
        argv = [sys.executable, str(ROOT / argv[1]), str(ROOT / argv[2]), *argv[3:]]
        argv += ["--runs-dir", str(tmp_path / f"runs{seed}")]
        log = open(tmp_path / f"worker{seed}.log", "w")  # noqa: SIM115
        workers.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path, env=env))
    doomed, db = workers[1], optuna.storages.RDBStorage(storage)

    def trials():
        try:
            return optuna.load_study(study_name="fdrl-ci-ppo", storage=db).get_trials()
        except KeyError:  # the workers have not created the study yet
            return []

    # Kill worker 2 once it has finished a trial and is inside its next one.
    deadline, victim = time.time() + 300, None
    while victim is None and time.time() < deadline and doomed.poll() is None:
        time.sleep(0.5)
        mine = [t for t in trials() if t.user_attrs.get("worker", "").endswith(f":{doomed.pid}")]
        running = [t for t in mine if t.state == optuna.trial.TrialState.RUNNING]
        if any(t.state.is_finished() for t in mine) and running and "heartbeat_unix" in running[0].user_attrs:
            doomed.send_signal(signal.SIGKILL)
            victim = running[0].number
            before = {t.number: (t.state, t.value) for t in trials() if t.state.is_finished()}
    doomed.wait()
    assert victim is not None, (tmp_path / "worker2.log").read_text()[-2000:]
    assert workers[0].wait(timeout=600) == 0, (tmp_path / "worker1.log").read_text()[-2000:]

    study = optuna.load_study(study_name="fdrl-ci-ppo", storage=db)
    assert evaluated(study) == 6 and all(t.state.is_finished() for t in study.trials)
    assert all((study.trials[n].state, study.trials[n].value) == kept for n, kept in before.items())
    lost = study.trials[victim]
    assert lost.state == optuna.trial.TrialState.FAIL and lost.user_attrs["lost"], lost.user_attrs
    assert f":{doomed.pid} died" in lost.user_attrs["fail_reason"]

    (best_file,) = tmp_path.glob("*.fdrl-ci-ppo.best.json")
    best = json.loads(best_file.read_text())
    assert best["trial"] == study.best_trial.number and best["value"] == study.best_value
    argv = shlex.split(best["command"])
    assert argv[0] == "python" and best["command"] in (tmp_path / "worker1.log").read_text()
    again = tmp_path / "again"
    out = subprocess.run(
        [sys.executable, *argv[1:], "--runs-dir", str(again)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
    (summary,) = again.glob("*/summary.json")
    assert json.loads(summary.read_text())["final_return"] == pytest.approx(best["value"], abs=1e-9)

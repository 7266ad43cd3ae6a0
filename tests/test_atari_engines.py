"""The Atari scripts' two env engines (``--engine native``: ale_py's C++ AtariVectorEnv, the default;
``--engine gymnasium``: Gymnasium's wrapper stack) give the same observations, rewards, episode ends
and real final observations for the same actions.

They differ only where randomness enters: sticky actions and no-op starts draw from different
random streams (and ale_py draws 0..noop_max-1 no-ops where AtariPreprocessing draws 1..noop_max),
so this comparison turns both off; the native engine also counts the 108k-frame limit from after
the no-ops. Neither changes what the scripts learn or report."""

import importlib

import numpy as np
import pytest

pytest.importorskip("ale_py")
pytest.importorskip("cv2")

SCRIPTS = ["ppo_atari", "a2c_atari", "dqn_atari", "sac_atari"]


def test_native_and_gymnasium_engines_agree():
    """Breakout, 2 envs, 1200 random actions (12 games end): the whole 4-frame stacks (padded with
    the episode's first frame), the raw rewards the statistics log, the sign(r) the learner sees,
    terminated, truncated, lives and info["final_obs"] are equal at every step."""
    from algos import dqn_atari
    from common.envs import check_env_id

    check_env_id("ALE/Breakout-v5")
    common = {"env_id": "ALE/Breakout-v5", "num_envs": 2, "repeat_action_probability": 0.0, "noop_max": 0}
    native = dqn_atari.make_envs(dqn_atari.Args(engine="native", **common), "")
    gymnasium = dqn_atari.make_envs(dqn_atari.Args(engine="gymnasium", **common), "")
    (obs_n, info_n), (obs_g, info_g) = native.reset(seed=3), gymnasium.reset(seed=3)
    np.testing.assert_array_equal(obs_n, obs_g)
    np.testing.assert_array_equal(info_n["lives"], info_g["lives"])
    assert native.single_action_space == gymnasium.single_action_space
    rng, episodes = np.random.default_rng(0), 0
    for t in range(1200):
        actions = rng.integers(0, native.single_action_space.n, 2)
        obs_n, r_n, term_n, trunc_n, info_n = native.step(actions)
        obs_g, r_g, term_g, trunc_g, info_g = gymnasium.step(actions)
        np.testing.assert_array_equal(obs_n, obs_g, err_msg=f"step {t}")
        np.testing.assert_array_equal(r_n, r_g, err_msg=f"step {t}")
        np.testing.assert_array_equal(term_n, term_g, err_msg=f"step {t}")
        np.testing.assert_array_equal(trunc_n, trunc_g, err_msg=f"step {t}")
        np.testing.assert_array_equal(info_n["lives"], info_g["lives"], err_msg=f"step {t}")
        ended = term_g | trunc_g
        if ended.any():
            final_g = np.stack(info_g["final_obs"][ended])
            np.testing.assert_array_equal(info_n["final_obs"][ended], final_g, err_msg=f"step {t}")
            raw_n, raw_g = info_n["episode"]["r"][ended], info_g["episode"]["r"][ended]
            np.testing.assert_array_equal(raw_n, raw_g, err_msg=f"step {t}")
            episodes += int(ended.sum())
    assert episodes >= 10, episodes  # 12 with these actions
    native.close()
    gymnasium.close()


def test_first_stacks_repeat_the_first_frame():
    """An episode's first stacks repeat its first frame where ale_py leaves zeros, in obs and in the
    final obs of an episode shorter than the stack."""
    from common.atari import RepeatFirstFrame

    x = lambda v: np.full((84, 84), v, np.uint8)  # noqa: E731
    stacks = np.stack([np.stack([x(0), x(0), x(0), x(7)]), np.stack([x(0), x(0), x(5), x(6)])])
    filled = RepeatFirstFrame.fill(stacks.copy(), np.array([1, 2]))
    assert [s[:, 0, 0].tolist() for s in filled] == [[7, 7, 7, 7], [5, 5, 5, 6]]


@pytest.mark.parametrize("script", SCRIPTS)
def test_capture_video_needs_the_gymnasium_engine(script, tmp_path, capsys):
    module = importlib.import_module(f"algos.{script}")
    with pytest.raises(SystemExit) as exit_info:
        module.train(module.Args(env_id="ALE/Pong-v5", capture_video=True, runs_dir=str(tmp_path)))
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == (
        "error: --capture-video needs --engine gymnasium (ale_py's native vector env does not render)"
    )
    assert not list(tmp_path.iterdir())

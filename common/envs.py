"""Envs as the scripts meet them: ids checked with one line (unknown, or needing an optional
package), the action space a script handles, off-screen rendering for videos, and a vector env's
state for an exact resume (and the running statistics of its normalisation wrappers).
"""

from __future__ import annotations

import difflib
import os
import pickle
import re
import sys

import gymnasium as gym

from common.errors import fail

# Optional packages and the env ids that need them: (module, pip extra).
_ENTRY_POINT_NEEDS = {"mujoco": ("mujoco", "mujoco"), "box2d": ("Box2D", "box2d")}


def _require(module: str, extra: str, env_id: str) -> None:
    try:
        __import__(module)
    except ImportError:
        fail(f"{env_id} needs the optional package '{module}': pip install -e '.[{extra}]'")


def atari_v5_id(env_id: str) -> str | None:
    """``ALE/Breakout-v5`` for an Atari id of gym's older families (``BreakoutNoFrameskip-v4``,
    ``BreakoutDeterministic-v4``, ``Breakout-v0``: what CleanRL's and SB3's docs use), else None."""
    match = re.fullmatch(r"([A-Z][A-Za-z]*?)(NoFrameskip|Deterministic)?-v[04]", env_id)
    if match is None:
        return None
    if env_id not in gym.registry:  # the old ids are registered by ale_py
        try:
            import ale_py
        except ImportError:
            return f"ALE/{match[1]}-v5" if match[2] else None
        gym.register_envs(ale_py)
    spec = gym.registry.get(env_id)
    return f"ALE/{match[1]}-v5" if spec is not None and "ale_py" in str(spec.entry_point) else None


def check_env_id(env_id: str):
    """The env's spec, or one line naming the problem and the closest registered ids."""
    if env_id.startswith("ALE/"):
        _require("ale_py", "atari", env_id)
        import ale_py

        gym.register_envs(ale_py)
    try:
        spec = gym.spec(env_id)
    except gym.error.Error:
        close = difflib.get_close_matches(env_id, list(gym.registry), n=3, cutoff=0.5)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        fail(f"unknown env id '{env_id}'{hint}")
    entry = str(spec.entry_point)
    for key, (module, extra) in _ENTRY_POINT_NEEDS.items():
        if key in entry:
            _require(module, extra, env_id)
    return spec


def check_action_space(env_id: str, kind: type, use_instead: str) -> None:
    """One line and exit 2 unless ``env_id`` exists and has a ``kind`` action space (gym.spaces.Discrete
    or Box, bounded), before any run folder exists."""
    check_env_id(env_id)
    with gym.make(env_id) as probe:
        space = probe.action_space
        if not isinstance(space, kind):
            fail(f"{env_id} has a {space} action space: use {use_instead}")
        if isinstance(space, gym.spaces.Box) and not space.is_bounded():
            fail(f"{env_id} has an unbounded action space {space}: this script needs finite bounds")
        if kind is gym.spaces.Box and not isinstance(probe.observation_space, gym.spaces.Box):
            fail(f"{env_id} has a {probe.observation_space} observation space: this script needs a Box")


def has_display() -> bool:
    return not sys.platform.startswith("linux") or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )


def render_off_screen() -> None:
    """Without a display, render videos off-screen: MuJoCo through EGL (else ``mujoco.FatalError``),
    pygame (classic control, Box2D) with SDL's dummy driver (else libwayland prints ``error:
    XDG_RUNTIME_DIR is invalid or not set``). A variable the user set is kept."""
    if not has_display():
        os.environ.setdefault("MUJOCO_GL", "egl")
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")


def make_envs(
    args, video_dir: str, env_wrapper=None, copy: bool = True, **make_kwargs
) -> gym.vector.VectorEnv:
    """``args.num_envs`` copies of ``args.env_id`` (``gym.make(args.env_id, **make_kwargs)``) in one vector env
    (``args.vector_mode``: sync or async) with episode statistics, in SAME_STEP autoreset mode: the step that
    ends an episode returns the reset observation and the true final one in ``info["final_obs"]``.
    ``args.capture_video`` records env 0 into ``video_dir``; ``env_wrapper(env)`` wraps each env (final
    observations included); ``copy=False``: the observations returned are reused by the next step."""

    def make_env(idx: int):
        def thunk():
            if args.capture_video and idx == 0:
                env = gym.make(args.env_id, render_mode="rgb_array", **make_kwargs)
                env = gym.wrappers.RecordVideo(env, video_dir)
            else:
                env = gym.make(args.env_id, **make_kwargs)
            return env_wrapper(env) if env_wrapper else env

        return thunk

    vector_env = gym.vector.SyncVectorEnv if args.vector_mode == "sync" else gym.vector.AsyncVectorEnv
    envs = vector_env(
        [make_env(i) for i in range(args.num_envs)],
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
        copy=copy,
    )
    return gym.wrappers.vector.RecordEpisodeStatistics(envs)


# A vector env's factories (closures) do not pickle, so its state is saved layer by layer: each
# wrapper's attributes except the inner env, and the sub-envs themselves. Envs that pickle only their
# constructor arguments (gymnasium's EzPickle: MuJoCo, Box2D, ALE) would come back freshly built, not
# in their current state: for those no state is saved and a resumed run starts new episodes.


def _layers(env) -> list:
    layers = [env]
    while isinstance(env, gym.Wrapper | gym.vector.VectorWrapper):
        env = env.env
        layers.append(env)
    return layers


def _restorable(env) -> bool:
    from gymnasium.utils import EzPickle

    for layer in _layers(env):
        if isinstance(layer, EzPickle) and type(layer).__getstate__ is EzPickle.__getstate__:
            return False
        if not all(_restorable(sub) for sub in getattr(layer, "envs", None) or ()):
            return False
    return True


def env_state(envs) -> bytes | None:
    """The pickled state of a (vector) env and its wrappers, or None where it cannot be restored
    exactly (async vector envs, EzPickle envs: MuJoCo, Box2D, ALE)."""
    if isinstance(_layers(envs)[-1], gym.vector.AsyncVectorEnv) or not _restorable(envs):
        return None
    skip = ("env", "env_fns")
    layers = [(type(x).__name__, {k: v for k, v in vars(x).items() if k not in skip}) for x in _layers(envs)]
    try:
        return pickle.dumps(layers)
    except (pickle.PicklingError, TypeError, AttributeError):  # a renderer, a pipe...: not restorable
        return None


def set_env_state(envs, state: bytes | None) -> bool:
    """Put a state from ``env_state`` into freshly built ``envs`` of the same structure; False if it
    cannot (then the caller resets the envs)."""
    if state is None:
        return False
    saved, layers = pickle.loads(state), _layers(envs)
    if [name for name, _ in saved] != [type(layer).__name__ for layer in layers]:
        return False
    for layer, (_, attributes) in zip(layers, saved):
        for sub in getattr(layer, "envs", None) or ():
            sub.close()
        layer.__dict__.update(attributes)
    return True

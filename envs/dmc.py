"""The DeepMind Control Suite (Tassa et al. 2018, dm_control) as a gymnasium env family: `dmc/<domain>-<task>`.

The tasks are dm_control's benchmarking tasks (`suite.BENCHMARKING`) of the domains in the D4PG paper's
benchmark figure (Barth-Maron et al. 2018), plus ball_in_cup-catch, which PlaNet, CURL and DreamerV3
report (results/published/dmcontrol_published.csv). Only point_mass-easy of `suite.BENCHMARKING` is left out.

What a score depends on, recorded by `describe`:
- Episodes are 1000 env steps, dm_control's time limit for every task here, and end in truncation:
  dm_control's discount is 1 there, so learners bootstrap. No task here ever terminates; a step that
  returns discount 0 before the limit would be reported as a termination.
- Rewards are dm_control's, in [0, 1] per env step, summed over the action repeat, so a whole episode
  scores at most 1000 under every action repeat.
- State observations are the task's observation dict flattened, in the task's own key order, to float32.
- Pixel observations (protocol `pixels=True`) are one RGB frame from camera 0 per agent step.

Rendering (pixels only) needs an OpenGL backend, chosen by the MUJOCO_GL environment variable before
dm_control is first imported:
- MUJOCO_GL=egl on a machine with a GPU (NVIDIA driver). Mesa's EGL (Debian: libegl1, libegl-mesa0)
  also renders on a CPU-only machine.
- MUJOCO_GL=osmesa on CPU with Debian's libosmesa6 (`apt-get install libosmesa6`).
If MUJOCO_GL is unset, this module sets it; see `_import_suite`.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from importlib.metadata import version

import gymnasium as gym
import numpy as np

from core.errors import ConfigError, require

EPISODE_ENV_STEPS = 1000  # dm_control's time limit for every task in TASKS (time limit / control timestep)
PIXEL_CAMERA_ID = 0  # the suite's default view of every task in TASKS


@dataclass(frozen=True)
class DMCProtocol:
    name: str = "dmc"
    action_repeat: int = 1  # env steps per agent step, with the same action; their rewards are summed
    pixels: bool = False  # observations: the flattened state (False) or one rendered RGB frame (True)
    pixel_size: int = 84  # height and width of pixel observations, in pixels

    def __post_init__(self) -> None:
        require(self.action_repeat >= 1, "action_repeat", "a positive number of env steps", self.action_repeat)
        require(self.pixel_size >= 1, "pixel_size", "a positive number of pixels", self.pixel_size)


PROTOCOLS: dict[str, DMCProtocol] = {"dmc": DMCProtocol()}
DEFAULT_PROTOCOL = "dmc"

TASKS: tuple[str, ...] = (
    "acrobot-swingup", "acrobot-swingup_sparse",
    "ball_in_cup-catch",
    "cartpole-balance", "cartpole-balance_sparse", "cartpole-swingup", "cartpole-swingup_sparse",
    "cheetah-run",
    "finger-spin", "finger-turn_easy", "finger-turn_hard",
    "fish-upright", "fish-swim",
    "hopper-stand", "hopper-hop",
    "humanoid-stand", "humanoid-walk", "humanoid-run",
    "manipulator-bring_ball",
    "pendulum-swingup",
    "reacher-easy", "reacher-hard",
    "swimmer-swimmer6", "swimmer-swimmer15",
    "walker-stand", "walker-walk", "walker-run",
)

_PREFIX = "dmc/"


def is_family(env_id: str) -> bool:
    return env_id.startswith(_PREFIX)


def env_ids() -> list[str]:
    return [_PREFIX + task for task in TASKS]


@functools.cache
def _import_suite():
    """dm_control.suite, imported on first use: most runs never make a Control Suite env."""
    if "MUJOCO_GL" not in os.environ:
        # Unset, dm_control tries GLFW first, which on a headless machine warns that DISPLAY is missing.
        # EGL needs no display and renders offscreen on a GPU, and on CPU through Mesa. But where no EGL
        # display can be opened, MUJOCO_GL=egl makes the import itself fail, so fall back to "disable"
        # (no renderer): state observations never render, and pixel envs then fail naming MUJOCO_GL.
        os.environ["MUJOCO_GL"] = "egl"
        try:
            from dm_control import suite
        except ImportError:
            os.environ["MUJOCO_GL"] = "disable"
            from dm_control import suite  # Python dropped the modules whose import failed, so they rerun
        return suite
    try:
        from dm_control import suite
    except Exception as error:  # osmesa without libOSMesa fails inside PyOpenGL, not with an ImportError
        raise RuntimeError(
            f"importing dm_control with MUJOCO_GL={os.environ['MUJOCO_GL']!r} failed ({error!r}). "
            "Use MUJOCO_GL=egl (GPU or Mesa EGL), MUJOCO_GL=osmesa with libosmesa6 installed, "
            "or unset MUJOCO_GL for state observations only.") from error
    return suite


class DMCEnv(gym.Env):
    """One dm_control task; `reset(seed=s)` seeds the task's random state with s, as `random=s` in suite.load."""

    metadata = {"render_modes": []}

    def __init__(self, domain: str, task: str, protocol: DMCProtocol):
        self.protocol = protocol
        self.dm_control_env = _import_suite().load(domain, task)
        action_spec = self.dm_control_env.action_spec()
        self.action_space = gym.spaces.Box(
            low=np.broadcast_to(action_spec.minimum, action_spec.shape).astype(np.float32),
            high=np.broadcast_to(action_spec.maximum, action_spec.shape).astype(np.float32),
            dtype=np.float32)
        observation_spec = self.dm_control_env.observation_spec()
        self._observation_keys = tuple(observation_spec)  # dm_control returns observations in this order
        if protocol.pixels:
            self.observation_space = gym.spaces.Box(
                0, 255, (protocol.pixel_size, protocol.pixel_size, 3), dtype=np.uint8)
            self._check_rendering()
        else:
            size = sum(int(np.prod(spec.shape)) for spec in observation_spec.values())
            self.observation_space = gym.spaces.Box(-np.inf, np.inf, (size,), dtype=np.float32)

    def _check_rendering(self) -> None:
        """Fail at construction, saying how to fix it, rather than at the first reset."""
        try:
            self._render()
        except Exception as error:
            raise RuntimeError(
                f"pixel observations could not be rendered with MUJOCO_GL={os.environ.get('MUJOCO_GL')!r} "
                f"({error!r}). Set MUJOCO_GL before Python starts: egl on a GPU machine (or with Mesa's "
                "libegl-mesa0), osmesa on CPU after `apt-get install libosmesa6`.") from error

    def _render(self) -> np.ndarray:
        size = self.protocol.pixel_size
        return self.dm_control_env.physics.render(size, size, camera_id=PIXEL_CAMERA_ID)

    def _observe(self, observation: dict) -> np.ndarray:
        if self.protocol.pixels:
            return self._render()
        # ravel: scalar observations such as walker's height are 0-d arrays
        return np.concatenate([np.ravel(observation[key]) for key in self._observation_keys], dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self.dm_control_env.task.random.seed(seed)  # the task draws every initial state from this
        time_step = self.dm_control_env.reset()
        return self._observe(time_step.observation), {}

    def step(self, action: np.ndarray):
        reward = 0.0
        for _ in range(self.protocol.action_repeat):
            time_step = self.dm_control_env.step(action)
            reward += time_step.reward
            if time_step.last():
                break
        # dm_control ends an episode at the time limit with discount 1 (truncation: bootstrap) and
        # only a true termination with discount 0
        terminated = time_step.last() and time_step.discount == 0.0
        truncated = time_step.last() and not terminated
        return self._observe(time_step.observation), float(reward), terminated, truncated, {}

    def close(self) -> None:
        self.dm_control_env.close()


def make_env(env_id: str, protocol: DMCProtocol, training: bool) -> gym.Env:
    """One env, seeded by its first `reset(seed=...)`."""
    del training  # training and evaluation envs are identical: the suite has no training-only signals
    task_name = env_id.removeprefix(_PREFIX)
    if not is_family(env_id) or task_name not in TASKS:
        raise ConfigError("env_id", f"one of the DeepMind Control tasks {env_ids()}", env_id)
    domain, task = task_name.split("-", 1)  # domain names hold no hyphen
    return DMCEnv(domain, task, protocol)


def describe(protocol: DMCProtocol) -> dict:
    """Every setting of this family that changes a score, recorded with each run."""
    if protocol.pixels:
        size = protocol.pixel_size
        observations = (f"pixels: one {size}x{size} RGB uint8 frame (height, width, channel) from camera "
                        f"{PIXEL_CAMERA_ID} per agent step, no frame stacking")
    else:
        observations = "state: the task's observation dict flattened in the task's key order, float32"
    return {
        "protocol": protocol.name,
        "dm_control_version": version("dm-control"),
        "mujoco_version": version("mujoco"),
        "episode_env_steps": EPISODE_ENV_STEPS,
        "episode_agent_steps": -(-EPISODE_ENV_STEPS // protocol.action_repeat),
        "action_repeat": protocol.action_repeat,
        "observations": observations,
        "actions": "float32 box from dm_control's action spec, [-1, 1] per dimension; the vector layer clips",
        "rewards": ("untouched: dm_control's reward, in [0, 1] per env step, summed over the action repeat; "
                    f"an episode scores at most {EPISODE_ENV_STEPS}"),
        "time_limit": (f"{EPISODE_ENV_STEPS} env steps, ending in truncation (dm_control discount 1): "
                       "learners bootstrap"),
        "termination": "only where dm_control returns discount 0 before the time limit; no task here does",
        "initial_state": "drawn by the task from a RandomState seeded with the reset seed",
        "training_and_evaluation_envs": "identical",
    }

"""Atari 2600 (ale-py) under the evaluation protocols of the papers we reproduce.

`dqn2015` — DQN (Mnih et al. 2015, Nature, Methods and Extended Data Table 1), also used by A3C
(Mnih et al. 2016), C51 (Bellemare et al. 2017) and PPO (Schulman et al. 2017):
    * frame skip 4, done here (ALE v5 is created with frameskip=1: its own skip does no max-pooling,
      so a second skip on top would silently skip 16 frames), max over the last two raw frames
      (the ALE renders some sprites on alternate frames), 84x84 grayscale, 4 stacked frames;
    * a uniform random number of 1..30 no-op frames at reset; minimal action set; no sticky actions;
    * training games capped at 108,000 frames (30 minutes of play), a truncation; evaluation games
      at 18,000 frames: Nature evaluated "each game 30 times for up to 5 min each time" (Methods,
      Evaluation procedure; 5 minutes at 60 frames/s). Papers that evaluated for 30 minutes (the
      no-op tables of Wang et al. 2016 and C51) need `dqn2015:eval_max_episode_frames=108000`;
    * training only: a lost life ends the learning episode while the game goes on (the next
      "reset" is a no-op step, not a new game), and rewards are clipped to their sign;
    * evaluation plays whole games and reports raw, unclipped scores.
`machado2018` — "Revisiting the Arcade Learning Environment" (Machado et al. 2018, JAIR):
    * sticky actions with probability 0.25 (at every emulator frame), no no-op starts (the sticky
      actions are the source of stochasticity), no life-loss signal; the same frame processing and
      training-time reward clipping; 108,000 frames for training and evaluation games (ALE v5's
      default, "taken from Machado et al., 2018", and Dopamine's 27,000 agent steps);
      `full_action_space=true` as an option (e.g. `machado2018:full_action_space=true`).
`fire_reset` (an option of both, off by default): OpenAI Baselines' Atari wrappers, which PPO and A2C
were released with, press FIRE at reset in games whose action set has FIRE, so that Breakout's ball
is launched without the agent's help; DeepMind's DQN did not. Here FIRE is the first frame of every
game (in place of the first no-op frame), and in training the step that follows a lost life plays
FIRE instead of a no-op. Baselines pressed FIRE for one agent step and then action 2 for another
after the no-ops and after every lost life; ours is the sequence ale-py's batched engine plays, so
that both backends stay identical.

Human starts — the evaluation of A3C's Table S3 and of several DQN-family columns — cannot be
reproduced: the 100 human start states were never published. Our evaluations use 30 no-op starts,
every run records its protocol, and reports say which protocol produced a number.

Backends: `gymnasium` (Python wrappers below around ALE v5) and `ale_vector` (ale-py's batched
C++ AtariVectorEnv). The C++ engine runs raw games (no reward clipping, no life-loss episodes: its
defaults differ from the protocol); the life-loss signal and clipping are added by `BatchedAtari`,
so both backends give learners the same episodes (tests/test_envs_atari.py checks step by step).
Its no-op draws come from its own generator (0..noop_max-1 frames).
EnvPool is not offered for training: with no-ops and sticky actions off, EnvPool 1.2.5 played
different games than ALE v5 for the same action sequence (and crashed with noop_max=0), so its
scores would not be this protocol's. benchmarks/env_throughput.py still measures it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cache

import ale_py
import cv2
import gymnasium as gym
import numpy as np


gym.register_envs(ale_py)
cv2.ocl.setUseOpenCL(False)

NOOP = 0
FRAMES_PER_GAME_CAP = 108_000  # 30 minutes at 60 frames/s
NATURE_EVALUATION_FRAMES = 18_000  # 5 minutes: Mnih et al. 2015, Methods, Evaluation procedure


@dataclass(frozen=True)
class AtariProtocol:
    name: str
    frame_skip: int = 4
    """emulator frames per agent step; rewards of the skipped frames are summed"""
    max_pool_frames: bool = True
    """observe the pixel-wise max of the last two frames of each skip"""
    noop_max: int = 30
    """at reset, play a uniform random number of 1..noop_max no-op frames (0: none)"""
    fire_reset: bool = False
    """press FIRE on the first frame of every game and, in training, on the step after a lost life
    (games whose action set has FIRE; OpenAI Baselines' wrappers, used by PPO and A2C)"""
    sticky_action_probability: float = 0.0
    """chance, at every emulator frame, that the previous action repeats instead of the chosen one"""
    full_action_space: bool = False
    """all 18 joystick actions instead of the game's minimal set"""
    life_loss_ends_training_episode: bool = True
    """training only: a lost life is a terminal for learning, the game goes on"""
    clip_training_rewards: bool = True
    """training only: rewards are clipped to their sign"""
    max_episode_frames: int = FRAMES_PER_GAME_CAP
    """training games are truncated after this many emulator frames"""
    eval_max_episode_frames: int = NATURE_EVALUATION_FRAMES
    """evaluation games are truncated after this many emulator frames"""
    frame_size: int = 84
    """observations are frame_size x frame_size grayscale"""
    frame_stack: int = 4
    """observations stack this many consecutive processed frames"""


PROTOCOLS = {
    "dqn2015": AtariProtocol("dqn2015"),
    "machado2018": AtariProtocol("machado2018", noop_max=0, sticky_action_probability=0.25,
                                 life_loss_ends_training_episode=False, eval_max_episode_frames=FRAMES_PER_GAME_CAP),
}
DEFAULT_PROTOCOL = "dqn2015"


@cache
def games() -> dict[str, str]:
    """env id -> ALE rom name, for the 57 games of the standard benchmark."""
    from envs.scores import TABLES  # the 57 games of the human/random normalization table

    benchmark = set(TABLES["noop_30min"].scores)
    return {env_id: spec.kwargs["game"] for env_id, spec in gym.registry.items()
            if env_id.startswith("ALE/") and env_id.endswith("-v5") and spec.kwargs.get("game") in benchmark
            and spec.kwargs.get("obs_type", "rgb") == "rgb"}


def is_family(env_id: str) -> bool:
    return env_id.startswith("ALE/")


def env_ids() -> list[str]:
    return sorted(games())


def describe(protocol: AtariProtocol) -> dict:
    record = dataclasses.asdict(protocol)
    fire = ("FIRE on the first frame of every game, and in training on the step after a lost life (games with FIRE)"
            if protocol.fire_reset else "none: the agent starts each game and each life itself")
    record.update(frames_per_agent_step=protocol.frame_skip, raw_frames_per_noop=1, fire_reset_presses=fire,
                  evaluation=(f"whole games of at most {protocol.eval_max_episode_frames} frames, raw unclipped "
                              "scores, no life-loss signal"),
                  grayscale="ALE luminance, max-pooled before resizing (cv2 INTER_AREA)")
    return record


def fire_action(action_meanings: list[str]) -> int | None:
    """The index of FIRE in the game's action set, or None for games without it (Freeway)."""
    return action_meanings.index("FIRE") if "FIRE" in action_meanings else None


class SavableGame(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """ALE v5 pickles as its constructor arguments (gymnasium's EzPickle), which unpickle into a new
    game; this also saves the emulator (its RNG too: sticky actions) and the env's np_random (no-op
    draws), so that a pickled env (`envs.snapshot`, in checkpoints) continues the game in flight."""

    SAVES_STATE = True  # envs.snapshot: the game in flight survives pickling

    def __init__(self, env: gym.Env):
        gym.utils.RecordConstructorArgs.__init__(self)
        super().__init__(env)

    def __getstate__(self) -> dict:
        game = self.env.unwrapped
        return {**self.__dict__, "saved_game": (game.ale.cloneState(include_rng=True), game.np_random)}

    def __setstate__(self, state: dict) -> None:
        emulator, np_random = state.pop("saved_game")
        self.__dict__.update(state)
        self.env.unwrapped.ale.restoreState(emulator)
        self.env.unwrapped.np_random = np_random


class GameStart(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """The first frames of every game: a uniform random number of 1..noop_max frames (DQN's start
    randomisation), all no-ops, except that with `fire` the first one is FIRE (ale-py's batched engine
    plays the same sequence); with noop_max 0, FIRE alone or nothing."""

    def __init__(self, env: gym.Env, noop_max: int, fire: bool):
        gym.utils.RecordConstructorArgs.__init__(self, noop_max=noop_max, fire=fire)  # lets gymnasium rebuild the env from its spec
        super().__init__(env)
        self.noop_max = noop_max
        self.fire = fire_action(env.unwrapped.get_action_meanings()) if fire else None

    def reset(self, **kwargs):
        observation, info = self.env.reset(**kwargs)
        frames = self.np_random.integers(1, self.noop_max + 1) if self.noop_max > 0 else 0
        actions = [NOOP] * frames
        if self.fire is not None:
            actions[:1] = [self.fire]
        for action in actions:
            observation, _, terminated, truncated, info = self.env.step(action)
            if terminated or truncated:
                observation, info = self.env.reset()
        return observation, info


class SkipAndMaxPool(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Repeat the action for `skip` frames, sum the rewards, observe the max of the last two frames."""

    def __init__(self, env: gym.Env, skip: int, max_pool: bool):
        gym.utils.RecordConstructorArgs.__init__(self, skip=skip, max_pool=max_pool)
        super().__init__(env)
        self.skip, self.max_pool = skip, max_pool
        self.frames = np.zeros((2, *env.observation_space.shape), dtype=np.uint8)

    def step(self, action):
        total_reward, terminated, truncated, info = 0.0, False, False, {}
        for frame in range(self.skip):
            observation, reward, terminated, truncated, info = self.env.step(action)
            total_reward += reward
            if frame >= self.skip - 2:
                self.frames[frame - (self.skip - 2)] = observation
            if terminated or truncated:
                break
        ended_early = frame < self.skip - 1  # the pooling frames would be stale
        pooled = self.frames.max(axis=0) if self.max_pool and not ended_early else observation
        return pooled, total_reward, terminated, truncated, info


class Resize(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    def __init__(self, env: gym.Env, size: int):
        gym.utils.RecordConstructorArgs.__init__(self, size=size)
        super().__init__(env)
        self.size = size
        self.observation_space = gym.spaces.Box(0, 255, (size, size), dtype=np.uint8)

    def observation(self, frame: np.ndarray) -> np.ndarray:
        return cv2.resize(frame, (self.size, self.size), interpolation=cv2.INTER_AREA)


class FrameStack(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """The last k processed frames, newest last; after a reset the older slots are zeros (as in
    the C++ engines). Frames live once in a ring buffer; a replay buffer stores only
    `observation[-1]` and rebuilds stacks from indices."""

    def __init__(self, env: gym.Env, k: int):
        gym.utils.RecordConstructorArgs.__init__(self, k=k)
        super().__init__(env)
        self.frames = np.zeros((k, *env.observation_space.shape), dtype=np.uint8)
        self.observation_space = gym.spaces.Box(0, 255, self.frames.shape, dtype=np.uint8)

    def reset(self, **kwargs):
        frame, info = self.env.reset(**kwargs)
        self.frames[:-1] = 0
        self.frames[-1] = frame
        return self.frames.copy(), info

    def step(self, action):
        frame, reward, terminated, truncated, info = self.env.step(action)
        self.frames[:-1] = self.frames[1:]
        self.frames[-1] = frame
        return self.frames.copy(), reward, terminated, truncated, info


class LifeLossEndsEpisode(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """DQN's episodic life: a lost life is reported as terminated; the following reset only
    plays one step (the game goes on) unless the game really ended: a no-op, or FIRE with `fire`."""

    def __init__(self, env: gym.Env, fire: bool):
        gym.utils.RecordConstructorArgs.__init__(self, fire=fire)
        super().__init__(env)
        self.lives, self.game_over = 0, True
        fire_index = fire_action(env.unwrapped.get_action_meanings()) if fire else None
        self.restart_action = NOOP if fire_index is None else fire_index

    def step(self, action):
        observation, reward, terminated, truncated, info = self.env.step(action)
        self.game_over = terminated or truncated
        lives = self.env.unwrapped.ale.lives()
        if 0 < lives < self.lives:
            terminated = True
        self.lives = lives
        return observation, reward, terminated, truncated, info

    def reset(self, **kwargs):
        if self.game_over or kwargs.get("seed") is not None:  # a seeded reset always starts a new game
            observation, info = self.env.reset(**kwargs)
        else:
            observation, _, terminated, truncated, info = self.env.step(self.restart_action)
            if terminated or truncated:  # the restart step itself ended the game
                observation, info = self.env.reset(**kwargs)
        self.lives = self.env.unwrapped.ale.lives()
        self.game_over = False
        return observation, info


class SignReward(gym.RewardWrapper, gym.utils.RecordConstructorArgs):
    def __init__(self, env: gym.Env):
        gym.utils.RecordConstructorArgs.__init__(self)
        super().__init__(env)

    def reward(self, reward: float) -> float:
        return float(np.sign(reward))


def frame_cap(protocol: AtariProtocol, training: bool) -> int:
    return protocol.max_episode_frames if training else protocol.eval_max_episode_frames


def make_env(env_id: str, protocol: AtariProtocol, training: bool) -> gym.Env:
    """One game with the protocol's frame processing and, for training or evaluation, its frame cap;
    the training-only signals come from `learning_wrappers`, applied outside the raw-score recorder."""
    env = SavableGame(gym.make(
        env_id, frameskip=1, obs_type="grayscale", repeat_action_probability=protocol.sticky_action_probability,
        full_action_space=protocol.full_action_space, max_num_frames_per_episode=frame_cap(protocol, training)))
    if protocol.noop_max > 0 or protocol.fire_reset:
        env = GameStart(env, protocol.noop_max, protocol.fire_reset)
    env = SkipAndMaxPool(env, protocol.frame_skip, protocol.max_pool_frames)
    env = Resize(env, protocol.frame_size)
    return FrameStack(env, protocol.frame_stack)


def learning_wrappers(env: gym.Env, protocol: AtariProtocol) -> gym.Env:
    if protocol.life_loss_ends_training_episode:
        env = LifeLossEndsEpisode(env, protocol.fire_reset)
    if protocol.clip_training_rewards:
        env = SignReward(env)
    return env


class BatchedAtari(gym.vector.VectorWrapper):
    """ale-py's batched C++ AtariVectorEnv running raw games, turned into the
    protocol's training view: raw whole-game statistics in info["episode"], a lost life reported
    as terminated and followed by a no-op step (FIRE with `fire_reset`) that learners must skip
    (like an autoreset step), rewards clipped to their sign in training."""

    def __init__(self, env: gym.vector.VectorEnv, protocol: AtariProtocol, training: bool):
        super().__init__(env)
        self.life_loss = training and protocol.life_loss_ends_training_episode
        self.clip = training and protocol.clip_training_rewards
        n = env.num_envs
        self.episode_return, self.episode_length = np.zeros(n), np.zeros(n, dtype=np.int64)
        self.lives, self.after_life_loss = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
        self.after_game_over = np.zeros(n, dtype=bool)  # their next step is the engine's autoreset
        action_set = list(env.ale.get_action_set())
        fire = protocol.fire_reset and ale_py.Action.FIRE in action_set
        self.restart_action = action_set.index(ale_py.Action.FIRE) if fire else NOOP

    def reset(self, *, seed: int | list[int] | None = None, options: dict | None = None):
        if isinstance(seed, list):
            # the engine derives per-env seeds from one int32 (seed, seed + 1, ...)
            seed = seed[0] % (2**31 - self.num_envs)
        observation, info = self.env.reset(seed=seed, options=options)
        self.episode_return[:], self.episode_length[:] = 0, 0
        self.lives[:], self.after_life_loss[:], self.after_game_over[:] = info["lives"], False, False
        return observation, info

    def step(self, actions):
        actions = np.where(self.after_life_loss, self.restart_action, actions)
        observation, reward, terminated, truncated, info = self.env.step(actions)
        game_over = terminated | truncated
        self.episode_return += reward
        self.episode_length += ~self.after_game_over
        info = dict(info)
        if game_over.any():
            info["episode"] = {"r": self.episode_return.copy(), "l": self.episode_length.copy()}
            info["_episode"] = game_over
        self.episode_return[game_over], self.episode_length[game_over] = 0, 0
        lost_life = (info["lives"] < self.lives) & (info["lives"] > 0) & ~game_over & self.life_loss
        learning_reward = np.where(self.after_life_loss, 0.0, reward)  # the restart step is not learned from
        self.after_life_loss, self.after_game_over = lost_life, game_over
        self.lives = info["lives"]
        if self.clip:
            learning_reward = np.sign(learning_reward)
        return observation, learning_reward, terminated | lost_life, truncated, info


def make_batched(env_id: str, num_envs: int, protocol: AtariProtocol, training: bool) -> BatchedAtari:
    """The protocol on ale-py's batched C++ engine (threads stepping the games in parallel)."""
    env = ale_py.vector_env.AtariVectorEnv(
        games()[env_id], num_envs, frameskip=protocol.frame_skip, maxpool=protocol.max_pool_frames,
        img_height=protocol.frame_size, img_width=protocol.frame_size, stack_num=protocol.frame_stack,
        noop_max=protocol.noop_max, repeat_action_probability=protocol.sticky_action_probability,
        full_action_space=protocol.full_action_space, max_num_frames_per_episode=frame_cap(protocol, training),
        episodic_life=False, reward_clipping=False, use_fire_reset=protocol.fire_reset)
    return BatchedAtari(env, protocol, training)

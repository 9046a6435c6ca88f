"""The rollout of the synchronous actor-critic algorithms (A2C, PPO): N environments stepped in
lockstep for T steps, stored as (T, N) arrays.

Gymnasium 1.x vector envs reset an env on the step *after* its episode ended: that step ignores its
action and returns the new episode's first observation with reward 0. Such rows are marked invalid
(`valid` False): no loss or minibatch uses them, and they are not counted as environment steps.
`observations[t + 1]` is the observation step t returned, so at an episode's end it is the true
last state, from which a time-limit truncation bootstraps.

A checkpoint (`state`) holds the vector env (envs.snapshot) with the rollout's last observations and
autoreset flags; `resume` continues from it exactly, or, where the env could not be saved (MuJoCo),
with a fresh env whose episodes restart.
"""

from __future__ import annotations

from typing import Callable

import gymnasium as gym
import numpy as np

import envs


class Rollout:
    def __init__(self, steps: int, num_envs: int, space: gym.spaces.Box, action_size: int, discrete: bool,
                 first_observation: np.ndarray):
        T, N = steps, num_envs
        self.observations = np.zeros((T + 1, N, *space.shape), dtype=space.dtype)  # s_0 .. s_T
        self.actions = np.zeros((T, N) if discrete else (T, N, action_size), dtype=np.int64 if discrete else np.float32)
        self.rewards = np.zeros((T, N), dtype=np.float32)
        self.terminated, self.truncated, self.valid = (np.zeros((T, N), dtype=bool) for _ in range(3))
        self.restart(first_observation)

    def restart(self, observation: np.ndarray) -> None:
        """Continue from the first observations of fresh episodes (a new env: no autoreset pending)."""
        self.observations[-1] = observation
        self.resets = envs.AutoresetSteps(len(observation))

    def collect(self, env: gym.vector.VectorEnv, choose: Callable[[np.ndarray], np.ndarray], step: int, log) -> int:
        """Step `env` T times from where the last rollout ended, with actions `choose(observations)`;
        log finished episodes; return the environment-step count after the rollout."""
        observation = self.observations[-1].copy()
        for t in range(len(self.rewards)):
            self.observations[t] = observation
            self.actions[t] = choose(observation)
            observation, self.rewards[t], self.terminated[t], self.truncated[t], info = env.step(self.actions[t])
            self.valid[t] = self.resets.record(self.terminated[t], self.truncated[t])
            step += int(self.valid[t].sum())
            log.log_episodes(step, info)
        self.observations[-1] = observation
        return step

    def state(self, env: gym.vector.VectorEnv) -> dict:
        """Where the next rollout starts, `env` included, for a checkpoint."""
        return {"env": envs.snapshot(env), "observation": self.observations[-1].copy(),
                "episode_ended": self.resets.state()}

    def resume(self, saved: dict, environment: envs.Environment, seed: int, step: int,
               prepare: Callable[[gym.vector.VectorEnv], tuple[gym.vector.VectorEnv, np.ndarray]] | None = None
               ) -> gym.vector.VectorEnv:
        """The env of a checkpoint's `state`, with this rollout continuing where it stopped; where the env could
        not be saved, a fresh one (passed through `prepare(env) -> (env, first observations)` when given) whose
        episodes restart."""
        env, observation = envs.restore(saved["env"], environment, len(self.resets.pending), seed, step)
        if observation is None:
            self.observations[-1] = saved["observation"]
            self.resets.restore(saved["episode_ended"], fresh=False)
        else:
            if prepare is not None:
                env, observation = prepare(env)
            self.restart(observation)
        return env

"""What every Stable-Baselines3 reference shares (examples/sb3_ppo.py, sb3_dqn.py on Atari; examples/sb3_control.py
elsewhere): SB3's learner on the suite's training envs, and the loop that runs SB3's `learn` inside the suite's run
directory, with each finished episode handed to the log, evaluations on our protocol's envs (envs.evaluate, through
RunLogger.evaluate_if_due) and a checkpoint after each.

A checkpoint holds SB3's parameters (networks and optimizers) and its step counter, plus whatever the caller adds
(`Extra`); a resumed run puts them back and continues to the budget. Its episodes restart, as SB3's envs cannot be
saved, and so does any replay memory the caller does not add.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

import envs


@dataclass(frozen=True)
class Extra:
    """What a checkpoint holds beyond SB3's parameters and step counter, and how a resumed run puts it back."""
    save: Callable[[], dict]
    restore: Callable[[dict], None]


def our_training_envs(environment: envs.Environment, count: int, seed: int):
    """SB3's DummyVecEnv over `count` of the suite's training envs (envs.make_single: our protocol, raw episode
    statistics in info["episode"]); SB3 resets each at its episode's end and seeds them seed, seed + 1, ..."""
    from stable_baselines3.common.vec_env import DummyVecEnv

    env = DummyVecEnv([lambda: envs.make_single(environment, training=True)] * count)
    env.seed(seed)
    return env


def learn(model, config, log, act: Callable[[np.ndarray], np.ndarray], frames_per_length_unit: int = 1,
          extra: Extra | None = None, evaluate_after_updates: bool = False) -> None:
    """Run SB3's `learn` to config.total_steps inside the suite's run. Episode lengths are divided by
    `frames_per_length_unit` (4 where SB3's Atari Monitor counts emulator frames).

    When evaluations happen: by default on the env step that reaches an evaluation step, and SB3 is stopped at the
    budget (the Atari references). With `evaluate_after_updates`, as our own loops do it: after the update that
    follows that step, at the start of SB3's next rollout (or at the end of training), and SB3 runs its last update;
    a checkpoint then falls between two rollouts, so a resumed run loses no collected transitions."""
    from stable_baselines3.common.callbacks import BaseCallback

    def state() -> dict:
        return {"parameters": model.get_parameters(), "step": model.num_timesteps, **(extra.save() if extra else {})}

    log.checkpoint_with(state)
    saved = log.resume()
    if saved is not None:
        model.set_parameters(saved["parameters"])
        model.num_timesteps = saved["step"]
        if extra:
            extra.restore(saved)

    class Bookkeeping(BaseCallback):
        def _on_step(self) -> bool:
            step = self.num_timesteps
            ended = [info["episode"] for info in self.locals["infos"] if "episode" in info]
            if ended:
                # The suite counts agent steps (4 frames each on SB3's Atari path, the no-op frames of a reset aside).
                lengths = [episode["l"] // frames_per_length_unit for episode in ended]
                log.log_episodes(step, {"episode": {"r": np.array([episode["r"] for episode in ended]),
                                                    "l": np.array(lengths)},
                                        "_episode": np.ones(len(ended), dtype=bool)})
            log.advance(step)
            if evaluate_after_updates:
                return True  # SB3 stops itself at the budget, after its last update
            log.evaluate_if_due(step, act)
            return step < config.total_steps  # stop once the budget is spent, after the final evaluation

        def _on_rollout_start(self) -> None:
            if evaluate_after_updates:
                log.evaluate_if_due(self.num_timesteps, act)

        def _on_training_end(self) -> None:
            if evaluate_after_updates:
                log.evaluate_if_due(self.num_timesteps, act)

    if model.num_timesteps < config.total_steps:
        model.learn(total_timesteps=config.total_steps - model.num_timesteps, callback=Bookkeeping(),
                    reset_num_timesteps=saved is None)

"""Our PPO's learner against Stable-Baselines3's on the same data (issue 19: "then the learner").

SB3's PPO collects one rollout on our Breakout training envs (a lost life ends a learning episode, so
the rollout holds episode ends) and makes its two updates (2 epochs, the whole rollout as one
minibatch, so that the order of minibatches does not matter). Our network, loaded with SB3's initial
weights, then recomputes from that rollout what our training loop computes: the old log-probabilities
and values, GAE advantages and returns, and the two Adam steps with our loss. Everything must agree with
what SB3 computed, up to one known difference: SB3 standardises advantages with the sample standard
deviation, ours with the population one (a factor sqrt(256/255) on the policy-gradient term).
"""

import numpy as np
import pytest
import torch
from torch import nn

import envs
from algos import ppo
from common.actor_critic import gae, standardize
from common.nets import spaces

pytest.importorskip("stable_baselines3")

T, N = 128, 2
SETTINGS = dict(learning_rate=2.5e-4, clip_range=0.1, vf_coef=0.5, ent_coef=0.01, gamma=0.99, gae_lambda=0.95)
OURS_FROM_SB3 = {"actor_body.1": "features_extractor.cnn.0", "actor_body.3": "features_extractor.cnn.2",
                 "actor_body.5": "features_extractor.cnn.4", "actor_body.8": "features_extractor.linear.0",
                 "actor": "action_net", "critic": "value_net"}


def sb3_name(ours: str) -> str:
    """Our parameter's name in SB3's CnnPolicy (the value reads the policy's shared encoder on both sides)."""
    layer, kind = ours.replace("critic_body", "actor_body").rsplit(".", 1)
    return f"{OURS_FROM_SB3[layer]}.{kind}"


def test_our_ppo_update_is_sb3s_update_on_the_same_rollout():
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    torch.manual_seed(0)
    environment = envs.resolve("ALE/Breakout-v5", "dqn2015:fire_reset=true")
    env = DummyVecEnv([lambda: envs.make_single(environment, training=True)] * N)
    theirs = PPO("CnnPolicy", env, n_steps=T, batch_size=T * N, n_epochs=2, seed=0, device="cpu", **SETTINGS)
    config = ppo.Config(env_id="ALE/Breakout-v5", preset="atari_sb3_zoo")
    ours = ppo.make_model(*spaces(environment), config)
    sb3_weights = {name: value.clone() for name, value in theirs.policy.state_dict().items()}  # before training
    ours.load_state_dict({name: sb3_weights[sb3_name(name)] for name in ours.state_dict()})

    theirs.learn(total_timesteps=T * N)  # one rollout, then SB3's two updates
    # SB3 leaves the arrays its minibatches read flattened env by env; ours are (T, N), time first.
    buffer = {name: getattr(theirs.rollout_buffer, name).reshape(N, T, -1).swapaxes(0, 1).squeeze(-1)
              for name in ("actions", "values", "log_probs", "advantages", "returns")}
    buffer.update(rewards=theirs.rollout_buffer.rewards, episode_starts=theirs.rollout_buffer.episode_starts)
    assert buffer["episode_starts"][1:].any(), "the rollout should hold episode ends (lost lives)"
    observations = torch.as_tensor(theirs.rollout_buffer.observations.reshape(N, T, 4, 84, 84).swapaxes(0, 1)).flatten(0, 1)
    actions = torch.as_tensor(buffer["actions"]).long().flatten()

    # Rollout-time quantities: pi_old, V_old, and the GAE advantages and returns.
    with torch.no_grad():
        logits, values = ours(observations)
        last_values = ours(torch.as_tensor(theirs._last_obs))[1]
    old_log_probs = ours.head(logits).log_prob(actions)
    np.testing.assert_allclose(old_log_probs.numpy(), buffer["log_probs"].flatten(), atol=1e-5)
    np.testing.assert_allclose(values.numpy(), buffer["values"].flatten(), atol=1e-5)
    terminated = torch.as_tensor(np.concatenate([buffer["episode_starts"][1:], theirs._last_episode_starts[None]]) > 0)
    advantages, returns = gae(torch.as_tensor(buffer["rewards"]), torch.cat([values.view(T, N), last_values[None]]),
                                  terminated, torch.zeros_like(terminated), SETTINGS["gamma"], SETTINGS["gae_lambda"])
    np.testing.assert_allclose(advantages.numpy(), buffer["advantages"], atol=1e-4)
    np.testing.assert_allclose(returns.numpy(), buffer["returns"], atol=1e-4)

    # Two epochs of our loss and Adam, as algos/ppo.py runs them, from the same start.
    optimizer = torch.optim.Adam(ours.parameters(), lr=SETTINGS["learning_rate"], eps=config.adam_eps, fused=True)
    for _ in range(2):
        logits, new_values = ours(observations)
        distribution = ours.head(logits)
        loss, _ = ppo.ppo_loss(distribution.log_prob(actions), old_log_probs, standardize(advantages.flatten()),
                               new_values, returns.flatten(), values, distribution.entropy(), SETTINGS["clip_range"],
                               config.value_coef, config.entropy_coef, config.clip_value_loss)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(ours.parameters(), config.max_grad_norm)
        optimizer.step()

    sb3_after = theirs.policy.state_dict()
    sb3_parameters = dict(theirs.policy.named_parameters())
    for name, parameter in ours.named_parameters():
        their_name = sb3_name(name)
        ours_grad, their_grad = parameter.grad.flatten(), sb3_parameters[their_name].grad.flatten()
        # The last update's (clipped) gradients: the same up to the advantage standardisation's estimator.
        assert (ours_grad - their_grad).norm() <= 0.01 * their_grad.norm() + 1e-8, name
        # Where the two Adam steps took the weights, relative to how far they moved.
        moved = (sb3_after[their_name] - sb3_weights[their_name]).norm()
        assert (parameter.detach() - sb3_after[their_name]).norm() <= 0.05 * moved + 1e-8, name

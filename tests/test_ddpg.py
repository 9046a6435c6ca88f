"""DDPG (algos/ddpg.py) and the off-policy loop it shares with SAC (common/off_policy.py): the critic target,
the critic and actor gradients against hand-computed values, one update against Algorithm 1 written out,
the Ornstein-Uhlenbeck noise's statistics, the networks of section 7, presets, action scaling, seeded
determinism, kill-and-resume, re-evaluation from a checkpoint, and runs that must learn."""

import copy

import gymnasium as gym
import numpy as np
import pytest
import torch

import envs
from algos import ddpg
from common.cli import build_parser, parse
from common.config import config_from_dict
from common.off_policy import ActionScale, soft_update
from common.replay import Batch
from common.rundir import CHECKPOINT
from core.errors import ConfigError
from helpers import random_score, rows_without_wall_time, stop_after_checkpoints

SHORT = {"env_id": "Pendulum-v1", "total_steps": 1_500, "eval_interval": 500, "eval_episodes": 2, "device": "cpu",
         "first_layer_units": 32, "second_layer_units": 32}


def config(**changes) -> ddpg.Config:
    return config_from_dict(ddpg.Config, {**SHORT, **changes})


def hand_batch() -> Batch:
    # Row 0: an ordinary step, discount 0.9. Row 1: the episode terminated there: discount 0.
    return Batch(observations=torch.tensor([[1.0], [2.0]]), actions=torch.tensor([[0.5], [-0.5]]),
                 returns=torch.tensor([1.0, -1.0]), next_observations=torch.tensor([[3.0], [-1.0]]),
                 discounts=torch.tensor([0.9, 0.0]), weights=torch.ones(2), indices=np.arange(2))


class Linear(torch.nn.Module):
    """Q(s, a) = w s + v a, with hand-set parameters."""

    def __init__(self, w: float, v: float):
        super().__init__()
        self.w, self.v = torch.nn.Parameter(torch.tensor(w)), torch.nn.Parameter(torch.tensor(v))

    def forward(self, observations, actions):
        return self.w * observations[:, 0] + self.v * actions[:, 0]


# --- the losses -------------------------------------------------------------------------------------------

def test_critic_targets_by_hand():
    # y = r + discount * Q'(s', mu'(s')): 1 + 0.9 * 6 and -1 (terminated: no bootstrap); a truncation keeps 0.9
    targets = ddpg.critic_targets(torch.tensor([1.0, -1.0, 0.5]), torch.tensor([0.9, 0.0, 0.9]),
                                  torch.tensor([6.0, -2.0, 1.0]))
    torch.testing.assert_close(targets, torch.tensor([6.4, -1.0, 1.4]))


def test_critic_loss_and_its_gradient_by_hand():
    target_actor = lambda s: 0.1 * s  # noqa: E731  mu'(s') = 0.3, -0.1
    target_critic = Linear(1.0, 10.0).requires_grad_(False)  # Q'(s', mu'(s')) = 3 + 3 = 6 and -1 - 1 = -2
    critic = Linear(1.0, 2.0)  # Q(s, a) = 1 + 1 = 2 and 2 - 1 = 1
    loss, mean_q = ddpg.critic_loss(critic, target_actor, target_critic, hand_batch())
    # targets 6.4 and -1: errors q - y = -4.4 and 2; loss (19.36 + 4) / 2
    assert loss.item() == pytest.approx(11.68) and mean_q.item() == pytest.approx(1.5)
    loss.backward()
    # dL/dw = mean 2 (q - y) s = (-8.8 + 8) / 2;  dL/dv = mean 2 (q - y) a = (-4.4 - 2) / 2
    assert critic.w.grad.item() == pytest.approx(-0.4) and critic.v.grad.item() == pytest.approx(-3.2)


def test_actor_gradient_by_hand():
    # mu(s) = tanh(theta s), Q(s, a) = 3 a s: grad_theta of -mean Q(s, mu(s)) = -mean 3 s (1 - tanh^2(theta s)) s
    theta = torch.nn.Parameter(torch.tensor(0.5))
    critic = lambda s, a: 3.0 * a[:, 0] * s[:, 0]  # noqa: E731
    loss = ddpg.actor_loss(lambda s: torch.tanh(theta * s), critic, torch.tensor([[1.0], [2.0]]))
    loss.backward()
    # s = 1: 3 * 0.78644773 = 2.35934319;  s = 2: 3 * 2 * 0.41997434 * 2 = 5.03969208
    assert theta.grad.item() == pytest.approx(-(2.35934319 + 5.03969208) / 2, rel=1e-6)
    assert loss.item() == pytest.approx(-(3 * 0.46211716 + 6 * 0.76159416) / 2, rel=1e-6)


@pytest.mark.parametrize("batch_norm", [True, False])
def test_one_update_is_algorithm_1_written_out(batch_norm):
    torch.manual_seed(0)
    learner = ddpg.DDPG(3, 2, config(batch_norm=batch_norm), torch.device("cpu"), seed=0)
    # give the running averages values of their own, so that using the wrong statistics shows
    for module in [*learner.actor.modules(), *learner.critic.modules()]:
        if isinstance(module, torch.nn.BatchNorm1d):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
    actor, critic = (ddpg.Actor(3, 2, learner.config), ddpg.Critic(3, 2, learner.config))
    actor.load_state_dict(learner.actor.state_dict())
    critic.load_state_dict(learner.critic.state_dict())
    target_actor, target_critic = (ddpg.Actor(3, 2, learner.config), ddpg.Critic(3, 2, learner.config))
    target_actor.load_state_dict(actor.state_dict())
    target_critic.load_state_dict(critic.state_dict())
    learner.target_actor.load_state_dict(actor.state_dict())
    learner.target_critic.load_state_dict(critic.state_dict())
    generator = torch.Generator().manual_seed(1)
    batch = Batch(observations=torch.randn(8, 3, generator=generator), actions=torch.rand(8, 2, generator=generator),
                  returns=torch.randn(8, generator=generator), next_observations=torch.randn(8, 3, generator=generator),
                  discounts=torch.tensor([0.99] * 6 + [0.0, 0.99]), weights=torch.ones(8), indices=np.arange(8))
    learner.update(batch)
    # the critic steps first (Adam with L2 weight decay on its weight matrices only), its targets from the target
    # networks' running averages; then the actor on the updated critic, the critic with its running averages;
    # then both targets, running averages included
    weights = [module.weight for module in critic.modules() if isinstance(module, torch.nn.Linear)]
    others = [p for p in critic.parameters() if all(p is not w for w in weights)]
    critic_optimizer = torch.optim.Adam([{"params": weights, "weight_decay": 1e-2}, {"params": others}], lr=1e-3)
    target_actor.eval(), target_critic.eval()
    y = batch.returns + batch.discounts * target_critic(batch.next_observations, target_actor(batch.next_observations))
    ((critic(batch.observations, batch.actions) - y.detach()) ** 2).mean().backward()
    critic_optimizer.step()
    actor_optimizer = torch.optim.Adam(actor.parameters(), lr=1e-4)
    critic.eval()
    (-critic(batch.observations, actor(batch.observations)).mean()).backward()
    actor_optimizer.step()
    for mine, theirs in ((learner.actor, actor), (learner.critic, critic)):
        for (name, a), b in zip(mine.state_dict().items(), theirs.state_dict().values()):
            torch.testing.assert_close(a, b, msg=name)
    for mine, online, before in ((learner.target_actor, actor, target_actor),
                                 (learner.target_critic, critic, target_critic)):
        for (name, a), b, c in zip(mine.state_dict().items(), online.state_dict().values(),
                                   before.state_dict().values()):
            if a.is_floating_point():
                torch.testing.assert_close(a, 0.001 * b + 0.999 * c, msg=name)


def test_soft_update_also_averages_batch_norm_statistics():
    online, target = torch.nn.BatchNorm1d(2), torch.nn.BatchNorm1d(2)
    online.running_mean.fill_(10.0)
    online.weight.data.fill_(3.0)
    soft_update(target, online, 0.1)
    torch.testing.assert_close(target.running_mean, torch.full((2,), 1.0))
    torch.testing.assert_close(target.weight, torch.full((2,), 1.2))


# --- exploration ------------------------------------------------------------------------------------------

def test_ornstein_uhlenbeck_statistics_of_the_dt_1_discretisation():
    theta, sigma = 0.15, 0.2
    noise = ddpg.OrnsteinUhlenbeck(20_000, theta, sigma, np.random.default_rng(0))  # 20,000 independent processes
    # x_t = (1 - theta) x_{t-1} + sigma eps: Var x_t = sigma^2 (1 - (1 - theta)^(2t)) / (1 - (1 - theta)^2)
    first = [noise.sample().copy() for _ in range(5)]
    assert np.var(first[-1]) == pytest.approx(sigma**2 * (1 - 0.85**10) / (1 - 0.85**2), rel=0.03)
    for _ in range(200):  # 0.85^400: stationary
        noise.sample()
    before = noise.state.copy()
    after = noise.sample().copy()
    stationary = sigma**2 / (theta * (2 - theta))  # 0.1441, not the continuous process's sigma^2 / (2 theta) 0.1333
    assert stationary == pytest.approx(0.144144, rel=1e-5)
    assert np.mean(after) == pytest.approx(0.0, abs=0.01)
    assert np.var(after) == pytest.approx(stationary, rel=0.03)
    assert np.corrcoef(before, after)[0, 1] == pytest.approx(1 - theta, abs=0.01)
    noise.reset()
    assert not noise.state.any()
    # theta 1 (the td3_authors preset): independent N(0, sigma^2) at every step
    white = ddpg.OrnsteinUhlenbeck(20_000, 1.0, 0.1, np.random.default_rng(1))
    first, second = white.sample().copy(), white.sample().copy()
    assert np.std(second) == pytest.approx(0.1, rel=0.02) and abs(np.corrcoef(first, second)[0, 1]) < 0.03


def test_exploration_is_clipped_to_the_unit_box_and_evaluation_has_no_noise():
    learner = ddpg.DDPG(3, 1, config(noise_sigma=50.0), torch.device("cpu"), seed=0)
    observation = np.zeros((1, 3), dtype=np.float32)
    explored = np.array([learner.explore(observation) for _ in range(20)])
    assert explored.min() == -1.0 and explored.max() == 1.0 and np.abs(explored).max() <= 1.0
    assert np.array_equal(learner.act(observation), learner.act(observation))


# --- networks, presets, actions ------------------------------------------------------------------------------

def test_section_7_networks():
    paper = ddpg.Config(env_id="Pendulum-v1")
    actor, critic = ddpg.Actor(17, 6, paper), ddpg.Critic(17, 6, paper)
    linear = [module for module in actor.modules() if isinstance(module, torch.nn.Linear)]
    assert [(layer.in_features, layer.out_features) for layer in linear] == [(17, 400), (400, 300), (300, 6)]
    # the action joins at the critic's second layer
    assert (critic.first.in_features, critic.second.in_features, critic.output.out_features) == (17, 406, 1)
    for layer in (linear[0], linear[1], critic.first, critic.second):
        bound = layer.in_features**-0.5
        assert layer.weight.abs().max() <= bound and layer.bias.abs().max() <= bound
        assert layer.weight.abs().max() > 0.9 * bound  # uniform over the whole range, not a narrower one
    for layer in (linear[2], critic.output):
        assert layer.weight.abs().max() <= 3e-3 and layer.bias.abs().max() <= 3e-3
    outputs = actor(100 * torch.randn(50, 17))
    assert outputs.abs().max() <= 1.0
    assert critic(torch.randn(5, 17), torch.rand(5, 6)).shape == (5,)


def layer_kinds(modules) -> list[str]:
    names = {torch.nn.BatchNorm1d: "bn", torch.nn.Linear: "linear", torch.nn.ReLU: "relu", torch.nn.Tanh: "tanh"}
    return [names[type(module)] for module in modules if type(module) in names]


def test_batch_norm_where_section_3_puts_it():
    # "batch normalization on the state input and all layers of the mu network and all layers of the Q network
    # prior to the action input": on in the paper preset, off in td3_authors (sfujim/TD3 has none)
    paper = ddpg.Config(env_id="Pendulum-v1", first_layer_units=4, second_layer_units=3)
    assert paper.batch_norm and not ddpg.Config(env_id="Pendulum-v1", preset="td3_authors").batch_norm
    actor, critic = ddpg.Actor(2, 1, paper), ddpg.Critic(2, 1, paper)
    # the state input, then each hidden layer before its ReLU; the output layer is not normalised
    assert layer_kinds(actor.net) == ["bn", "linear", "bn", "relu", "linear", "bn", "relu", "linear", "tanh"]
    assert [m.num_features for m in actor.modules() if isinstance(m, torch.nn.BatchNorm1d)] == [2, 4, 3]
    # the critic: the state input and the first layer, both before the action joins; nothing after it
    assert isinstance(critic.state_normalization, torch.nn.BatchNorm1d) and critic.state_normalization.num_features == 2
    assert isinstance(critic.first_normalization, torch.nn.BatchNorm1d) and critic.first_normalization.num_features == 4
    assert critic.second.in_features == 4 + 1
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in critic.modules()) == 2
    # with the action at the critic's input only the state input can be normalised
    action_first = ddpg.Critic(2, 1, ddpg.Config(env_id="Pendulum-v1", action_input_layer=1))
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in action_first.modules()) == 1
    off = ddpg.Config(env_id="Pendulum-v1", batch_norm=False)
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in [*ddpg.Actor(2, 1, off).modules(),
                                                                  *ddpg.Critic(2, 1, off).modules()])


def batch_norm_counts(network: torch.nn.Module) -> list[int]:
    """How many minibatches each batch normalisation layer has folded into its running averages."""
    return [int(m.num_batches_tracked) for m in network.modules() if isinstance(m, torch.nn.BatchNorm1d)]


def test_batch_norm_modes_acting_and_targets_use_running_averages_and_leave_them():
    learner = ddpg.DDPG(3, 1, config(), torch.device("cpu"), seed=0)
    observations = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    before = copy.deepcopy(learner.actor.state_dict())
    acted = learner.act(observations)
    explored = [learner.explore(observations[:1]) for _ in range(3)]  # one observation: train mode would fail
    # acting and evaluation: the running averages, unchanged, and each observation's action its own
    assert all(torch.equal(a, b) for a, b in zip(before.values(), learner.actor.state_dict().values()))
    np.testing.assert_allclose(learner.act(observations[2:3]), acted[2:3], rtol=1e-6)
    assert len(explored) == 3 and learner.actor.training  # back in train mode for the updates
    # one update: the critic's statistics move once (its own step, not the actor's), the actor's once (its
    # step), the targets' never (they are Polyak-averaged instead)
    generator = torch.Generator().manual_seed(0)
    batch = Batch(torch.randn(64, 3, generator=generator), torch.rand(64, 1, generator=generator) * 2 - 1,
                  torch.randn(64, generator=generator), torch.randn(64, 3, generator=generator),
                  torch.full((64,), 0.99), torch.ones(64), np.arange(64))
    learner.update(batch)
    assert batch_norm_counts(learner.critic) == [1, 1] and batch_norm_counts(learner.actor) == [1, 1, 1]
    assert batch_norm_counts(learner.target_critic) == [0, 0] and batch_norm_counts(learner.target_actor) == [0, 0, 0]
    assert learner.critic.training and learner.actor.training
    assert not learner.target_critic.training and not learner.target_actor.training
    # the critic's statistics after the update are those of its own step on the minibatch: mean 0.9 x 0 + 0.1 x
    # the batch mean of the state input
    torch.testing.assert_close(learner.critic.state_normalization.running_mean, 0.1 * batch.observations.mean(0))


def test_weight_decay_shrinks_the_critics_weight_matrices_only():
    learner = ddpg.DDPG(3, 1, config(), torch.device("cpu"), seed=0)
    decayed, other = ddpg.critic_parameter_groups(learner.critic)
    critic = learner.critic
    assert [id(p) for p in decayed] == [id(critic.first.weight), id(critic.second.weight), id(critic.output.weight)]
    # biases and batch normalisation's scale and shift: not decayed
    assert sorted(name for name, p in critic.named_parameters() if any(p is q for q in other)) == [
        "first.bias", "first_normalization.bias", "first_normalization.weight", "output.bias", "second.bias",
        "state_normalization.bias", "state_normalization.weight"]
    assert [group["weight_decay"] for group in learner.critic_optimizer.param_groups] == [1e-2, 0.0]


def test_presets_the_paper_by_default_and_the_td3_authors_on_request():
    paper = ddpg.Config(env_id="dmc/cartpole-swingup")
    assert paper.preset == "paper" and ddpg.Config.PRESETS["paper"] == {}
    assert (paper.actor_learning_rate, paper.critic_learning_rate, paper.critic_weight_decay, paper.tau) == \
        (1e-4, 1e-3, 1e-2, 0.001)
    assert (paper.batch_size, paper.buffer_size, paper.ou_theta, paper.noise_sigma, paper.learning_starts) == \
        (64, 1_000_000, 0.15, 0.2, 0)
    assert (paper.first_layer_units, paper.second_layer_units, paper.action_input_layer, paper.output_init) == \
        (400, 300, 2, 3e-3)
    td3 = ddpg.Config(env_id="HalfCheetah-v5", preset="td3_authors")
    assert (td3.actor_learning_rate, td3.critic_learning_rate, td3.critic_weight_decay, td3.tau) == \
        (3e-4, 3e-4, 0.0, 0.005)
    assert (td3.batch_size, td3.learning_starts, td3.ou_theta, td3.noise_sigma, td3.action_input_layer) == \
        (256, 25_000, 1.0, 0.1, 1)
    assert ddpg.deviations(td3)[0].startswith("preset td3_authors: NOT the DDPG paper's setting")
    command_line, _, _, _ = parse(ddpg.Config, "algos.ddpg", "", ["--env-id", "HalfCheetah-v5",
                                                                   "--preset", "td3_authors"])
    assert command_line.to_dict() == td3.to_dict()
    given = ddpg.Config(env_id="Pendulum-v1", tau=0.01)
    assert "tau = 0.01, where the paper preset has 0.001" in ddpg.deviations(given)


@pytest.mark.parametrize("values, field", [
    ({"action_input_layer": 3}, "action_input_layer"), ({"ou_theta": 0.0}, "ou_theta"), ({"tau": 0.0}, "tau"),
    ({"eval_deterministic": False}, "eval_deterministic"), ({"batch_size": 64, "buffer_size": 10}, "buffer_size"),
])
def test_bad_settings_name_the_field(values, field):
    with pytest.raises(ConfigError) as error:
        config_from_dict(ddpg.Config, values)
    assert error.value.field == f"config.{field}"


def test_discrete_actions_are_refused_naming_the_algorithm_and_the_env(tmp_path):
    with pytest.raises(ConfigError, match=r"ddpg acts by gradient through the action, and CartPole-v1 has Discrete"):
        ddpg.train(config(env_id="CartPole-v1"), 0, tmp_path)


def test_actions_are_scaled_onto_the_env_bounds():
    scale = ActionScale(gym.spaces.Box(np.float32([-2.0, 0.0]), np.float32([2.0, 10.0])))
    np.testing.assert_allclose(scale.to_env(np.array([[-1.0, -1.0], [0.0, 0.0], [1.0, 0.5]])),
                               [[-2.0, 0.0], [0.0, 5.0], [2.0, 7.5]])


def test_help_fits_on_one_screen_before_the_options():
    help_text = build_parser(ddpg.Config, "python -m algos.ddpg", ddpg.__doc__).format_help()
    assert len(help_text.split("\nhyperparameters")[0].splitlines()) <= 40
    assert "--critic-weight-decay" in help_text and "td3_authors" in help_text


# --- runs ---------------------------------------------------------------------------------------------------

def test_same_seed_same_losses_and_episodes(tmp_path):
    losses = []
    for label, seed in (("a", 3), ("b", 3), ("c", 4)):
        torch.manual_seed(seed)
        learner = ddpg.DDPG(3, 1, config(), torch.device("cpu"), seed)
        generator = torch.Generator().manual_seed(seed)
        batches = [Batch(torch.randn(64, 3, generator=generator), torch.rand(64, 1, generator=generator) * 2 - 1,
                         torch.randn(64, generator=generator), torch.randn(64, 3, generator=generator),
                         torch.full((64,), 0.99), torch.ones(64), np.arange(64)) for _ in range(20)]
        losses.append([learner.update(batch)["losses/critic"].item() for batch in batches])
        assert ddpg.train(config(), seed, tmp_path / label).status == "completed"
    assert losses[0] == losses[1] != losses[2]
    first, second, other = (rows_without_wall_time(tmp_path / label / "metrics.csv") for label in "abc")
    assert len(first) == 7 and first == second != other  # 200-step episodes
    assert rows_without_wall_time(tmp_path / "a" / "eval.csv") == rows_without_wall_time(tmp_path / "b" / "eval.csv")


def test_a_resumed_run_ends_as_the_uninterrupted_run(tmp_path, monkeypatch):
    resumable = config(checkpoint_replay=True)
    with monkeypatch.context() as patch:
        saved = stop_after_checkpoints(patch, 2)
        with pytest.raises(KeyboardInterrupt):
            ddpg.train(resumable, 5, tmp_path / "resumed")
    assert saved == [500, 1000] and not (tmp_path / "resumed" / "summary.json").exists()
    resumed = ddpg.train(resumable, 5, tmp_path / "resumed", resume=True)
    whole = ddpg.train(resumable, 5, tmp_path / "whole")
    assert resumed.status == whole.status == "completed" and resumed.score == whole.score
    for name in ("metrics.csv", "eval.csv"):
        assert rows_without_wall_time(tmp_path / "resumed" / name) == rows_without_wall_time(tmp_path / "whole" / name)
    state = torch.load(tmp_path / "whole" / CHECKPOINT, weights_only=False)["algorithm"]
    assert state["replay"] is not None and state["agent"]["noise"].shape == (1,)


def test_without_the_replay_a_resumed_run_refills_a_minibatch_before_learning(tmp_path, monkeypatch):
    with monkeypatch.context() as patch:
        stop_after_checkpoints(patch, 1)
        with pytest.raises(KeyboardInterrupt):
            ddpg.train(config(), 3, tmp_path)
    assert torch.load(tmp_path / CHECKPOINT, weights_only=False)["algorithm"]["replay"] is None
    updates, update = [], ddpg.DDPG.update
    monkeypatch.setattr(ddpg.DDPG, "update", lambda self, batch: updates.append(1) or update(self, batch))
    assert ddpg.train(config(), 3, tmp_path, resume=True).status == "completed"
    # learning_starts 0: an update after every step from the one that stores the 64th transition, as a new run
    assert len(updates) == 1_500 - 500 - (64 - 1)


def test_the_policy_from_a_checkpoint_plays_as_the_last_evaluation(tmp_path):
    run = config()
    ddpg.train(run, 2, tmp_path)
    state = torch.load(tmp_path / CHECKPOINT, weights_only=False)["algorithm"]
    assert state["replay"] is None  # not saved by default
    environment = envs.resolve(run.env_id)
    act = ddpg.policy_from_checkpoint(run, environment, state)
    returns = envs.evaluate(act, environment, run.eval_episodes, 2, round_index=2)
    assert float(rows_without_wall_time(tmp_path / "eval.csv")[-1]["mean"]) == pytest.approx(np.mean(returns))


def test_a_run_keeps_running_averages_and_polyak_averages_the_targets(tmp_path):
    result = ddpg.train(config(total_steps=1_000), 0, tmp_path)  # the paper preset: batch normalisation on
    assert result.status == "completed"
    state = torch.load(tmp_path / CHECKPOINT, weights_only=False)["algorithm"]["agent"]
    # the targets' statistics follow the online networks' (Polyak-averaged), from their initial 0
    assert state["actor"]["net.0.running_mean"].abs().sum() > 0
    assert 0 < state["target_actor"]["net.0.running_mean"].abs().sum() < state["actor"]["net.0.running_mean"].abs().sum()


# Pendulum-v1 with the paper's settings (tau 0.001, lr 1e-4, batch normalisation), which learn it in 10-15k
# steps: at 15k steps seed 2 scored -501.7 (evaluations -1207 at 10k, -292 at 13k, -395 at 15k); without batch
# normalisation seeds 1-3 scored -478.3, -285.1, -216.8 (about 52 s each at ~300 steps/s); a random policy
# scores -1246.5.
PENDULUM_STEPS = 15_000
PENDULUM_BAR = -600.0


def test_the_papers_ddpg_learns_pendulum_quickly(tmp_path):
    run = config_from_dict(ddpg.Config, {"env_id": "Pendulum-v1", "total_steps": PENDULUM_STEPS, "eval_interval": 500,
                                         "device": "cpu"})
    result = ddpg.train(run, 2, tmp_path)
    assert result.status == "completed" and run.preset == "paper"
    assert result.score >= PENDULUM_BAR > random_score("Pendulum-v1") + 600, result.score



# --- slow: 5 seeds, at least 4 must learn ---------------------------------------------------------------------
# Measured per seed (docs/algorithms/continuous.md): scores under eval_last_10pct, 10 evaluation episodes.
SLOW = {
    # the paper's settings (section 7); random -1246.5
    "pendulum": ({"env_id": "Pendulum-v1", "total_steps": 20_000, "eval_interval": 1_000}, -400.0),
    # the td3_authors preset: the paper's settings do not learn it in this budget (the actor saturates at a bound,
    # 136 on seeds 1 and 2 at 25k and 60k steps); random 359.9
    "cartpole-balance": ({"env_id": "dmc/cartpole-balance", "preset": "td3_authors", "total_steps": 50_000,
                          "eval_interval": 2_500}, 700.0),
}


@pytest.mark.slow
@pytest.mark.parametrize("task", sorted(SLOW))
def test_ddpg_learns_on_four_of_five_seeds(tmp_path, task):
    settings, bar = SLOW[task]
    run = config_from_dict(ddpg.Config, {**settings, "device": "cpu"})
    assert bar > random_score(run.env_id) + 300
    scores = [ddpg.train(run, seed, tmp_path / str(seed)).score for seed in range(1, 6)]
    print(f"ddpg {task} seeds 1-5: {[round(score, 1) for score in scores]}")
    assert sum(score >= bar for score in scores) >= 4, scores

"""A3C and asynchronous one-step Q-learning (algos/a3c.py, algos/async_q.py, algos/_async.py):
the shared optimizer across processes, the loss pieces by hand (one-worker determinism is in
test_determinism.py), the LSTM state, failures that must end a run, and short runs that must learn."""

import json
import math
import os

import pytest
import torch

import envs
from algos import _async, a3c, async_q
from common.actor_critic import actor_critic_loss, n_step_returns
from common.rundir import Diverged, peak_rss_mb
from helpers import rows_without_wall_time

# Paper defaults but two, for CartPole: its gradients are small beside RMSProp's epsilon 0.1, so the
# learning rate 7e-4 crawls (evaluation 32 after 50k steps); 1e-2 is the top of the paper's
# LogUniform(1e-4, 1e-2) range. No entropy bonus, as rl-zoo's CartPole settings and our A2C spec: with
# the paper's 0.01 the sampled policy stays noisy, and 3-4 of 5 seeds scored >= 475 at 100k steps
# (several just above), against 500 on all 5 without it.
CARTPOLE = {"learning_rate": 1e-2, "entropy_coef": 0.0}


def summary(run_dir):
    return json.loads((run_dir / "summary.json").read_text())


# --- the shared optimizer -------------------------------------------------------------------------

def _apply_one_update(optimizer, gradient_value, lr):
    optimizer.step([torch.full_like(p, gradient_value) for p in optimizer.parameters], lr)


def test_shared_rmsprop_statistics_are_shared_between_processes():
    parameter = torch.ones(3).share_memory_()
    optimizer = a3c.SharedRMSprop([parameter], alpha=0.9, eps=0.1)
    ctx = _async.context()
    for gradient in (1.0, 2.0):  # one process after the other, so that the order is known
        process = ctx.Process(target=_apply_one_update, args=(optimizer, gradient, 0.01))
        process.start()
        process.join(timeout=60)
        assert process.exitcode == 0
    # g1 = 0.1 * 1^2 = 0.1; g2 = 0.9 * 0.1 + 0.1 * 2^2 = 0.49
    assert optimizer.steps.item() == 2
    assert optimizer.square_averages[0].tolist() == pytest.approx([0.49] * 3)
    expected = 1 - 0.01 * 1 / math.sqrt(0.1 + 0.1) - 0.01 * 2 / math.sqrt(0.49 + 0.1)
    assert parameter.tolist() == pytest.approx([expected] * 3)


# --- the losses by hand -----------------------------------------------------------------------------

def test_rollout_loss_sums_the_a2c_loss_over_the_rollout():
    config = a3c.Config(hidden_size=8)
    env, observation = envs.make("CartPole-v1", 1, 0)
    model = a3c.make_model(env.single_observation_space, 2, True, config)
    steps, state, observation, _ = a3c.collect_rollout(env, model, observation, None, 5)
    loss, parts = a3c.rollout_loss(model, steps, state, 0.99, 0.5, 0.01)
    outputs, values = model(torch.as_tensor(steps.observations).flatten(0, 1))
    returns = n_step_returns(torch.as_tensor(steps.rewards), values.detach().view(-1, 1),
                             torch.as_tensor(steps.terminated), torch.as_tensor(steps.truncated), 0.99)
    length = len(steps.rewards)
    distribution = model.head(outputs[:length])
    mean_loss, _ = actor_critic_loss(distribution.log_prob(torch.as_tensor(steps.actions).view(-1)),
                                     distribution.entropy(), values[:length], returns.view(-1),
                                     torch.ones(length, dtype=torch.bool), 0.5, 0.01)
    assert loss.item() == pytest.approx(length * mean_loss.item(), rel=1e-5)
    env.close()


def test_one_step_q_loss_by_hand():
    # targets: 1 + 0.5 * 4 = 3 (bootstraps), 2 (terminal: nothing after it); errors 3 - 1 = 2 and 2 - 5 = -3
    loss = async_q.one_step_q_loss(torch.tensor([1.0, 5.0]), torch.tensor([1.0, 2.0]), torch.tensor([4.0, 100.0]),
                                   torch.tensor([False, True]), 0.5)
    assert loss.item() == pytest.approx(2**2 + 3**2)


def test_exploration_epsilon_anneals_from_one_to_the_final_value():
    assert async_q.exploration_epsilon(0, 0.1, 100) == 1.0
    assert async_q.exploration_epsilon(50, 0.1, 100) == pytest.approx(0.55)
    assert async_q.exploration_epsilon(500, 0.1, 100) == pytest.approx(0.1)


# --- the LSTM variant ---------------------------------------------------------------------------------

def test_lstm_state_is_carried_through_an_episode_and_reset_at_its_end():
    config = a3c.Config(lstm=True, lstm_size=16, hidden_size=8)
    env, observation = envs.make("CartPole-v1", 1, 0)
    model = a3c.make_model(env.single_observation_space, 2, True, config)
    state, rollouts = None, 0
    while True:
        steps, start_state, observation, state = a3c.collect_rollout(env, model, observation, state, 5)
        length = len(steps.rewards)
        assert steps.observations.shape == (length + 1, 1, 4) and steps.actions.shape == (length, 1)
        outputs, values, _ = a3c.unroll(model, torch.as_tensor(steps.observations), start_state)
        assert outputs.shape == (length + 1, 1, 2) and values.shape == (length + 1, 1)
        if rollouts > 0:  # mid-episode: the rollout starts from the carried state, which matters
            assert start_state is not None and start_state[0].shape == (1, 16)
            fresh = a3c.unroll(model, torch.as_tensor(steps.observations), None)[1]
            assert not torch.allclose(values, fresh)
        rollouts += 1
        if steps.ended:
            break
        assert state is not None and length == 5
    assert rollouts > 1 and state is None  # the next episode starts from the zero state
    loss, _ = a3c.rollout_loss(model, steps, start_state, 0.99, 0.5, 0.01)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    assert model.lstm.weight_hh.grad.abs().sum() > 0
    env.close()


def test_lstm_run_completes_and_records_its_sampled_learning_rate(tmp_path):
    config = a3c.Config(lstm=True, lstm_size=32, workers=1, total_steps=1000, eval_interval=500, eval_episodes=2,
                        lr_protocol="sampled")
    assert a3c.train(config, 5, tmp_path).status == "completed"
    assert len(rows_without_wall_time(tmp_path / "eval.csv")) == 2
    recorded = json.loads((tmp_path / "config.json").read_text())["hyperparameters"]
    assert recorded["lr_protocol"] == "sampled" and recorded["lstm"] is True
    assert recorded["learning_rate"] == _async.resolve_learning_rate(config, 5).learning_rate != config.learning_rate


# --- determinism and protocol records -----------------------------------------------------------------

def test_sampled_learning_rate_is_drawn_from_the_paper_range_with_the_seed():
    config = a3c.Config(lr_protocol="sampled")
    drawn = [_async.resolve_learning_rate(config, seed).learning_rate for seed in range(20)]
    assert drawn[3] == _async.resolve_learning_rate(config, 3).learning_rate
    assert all(1e-4 <= lr <= 1e-2 for lr in drawn) and len(set(drawn)) == 20
    assert _async.resolve_learning_rate(a3c.Config(), 3).learning_rate == 7e-4  # fixed: untouched


# --- failures end the run --------------------------------------------------------------------------

def _raising_worker(link):
    raise RuntimeError("boom in the worker")


def _dying_worker(link):
    os._exit(3)


def _diverging_worker(link):
    if link.rank == 1:
        raise Diverged("loss became nan at step 0")
    while not link.done():
        link.add_steps(1, torch.nn.Linear(1, 1))


def _run_fake(worker, run_dir):
    config = a3c.Config(workers=2, total_steps=10**9, eval_interval=10**9)
    return _async.run_workers(config, 0, run_dir, "fake", worker, (), torch.nn.Linear(1, 1), None)


@pytest.mark.parametrize("worker, message", [(_raising_worker, "boom in the worker"),
                                             (_dying_worker, "exited with code 3")])
def test_a_failing_worker_fails_the_run(tmp_path, worker, message):
    with pytest.raises(_async.WorkerFailed, match=message):
        _run_fake(worker, tmp_path)
    assert summary(tmp_path)["status"] == "failed"


def test_a_diverging_worker_ends_the_run_as_diverged(tmp_path):
    result = _run_fake(_diverging_worker, tmp_path)
    assert result.status == "diverged"
    assert summary(tmp_path)["status"] == "diverged" and "worker 1" in summary(tmp_path)["error"]


# --- short runs that must learn ---------------------------------------------------------------------

def test_a3c_learns_cartpole_with_two_workers(tmp_path):
    config = a3c.Config(workers=2, total_steps=30_000, eval_interval=5_000, **CARTPOLE)
    result = a3c.train(config, seed=0, run_dir=tmp_path)
    assert result.status == "completed"
    # the final evaluation; a random policy scores about 22. Hogwild runs differ from run to run: at 20k
    # steps one run in four of seed 0 scored 26, so 30k.
    assert result.score >= 150
    # the run's memory includes its workers' (each a process with torch loaded, well over 50 MB)
    assert result.peak_rss_mb >= peak_rss_mb() + 2 * 50


def test_async_q_learning_learns_cartpole_with_two_workers(tmp_path):
    config = async_q.Config(workers=2, total_steps=20_000, eval_interval=5_000, epsilon_anneal_steps=10_000,
                            target_update_steps=1_000, learning_rate=1e-2)
    result = async_q.train(config, seed=0, run_dir=tmp_path)
    assert result.status == "completed"
    assert len(rows_without_wall_time(tmp_path / "metrics.csv")) > 100
    # The best evaluation, not the last: online Q-learning without replay learns CartPole within
    # 20k steps but may collapse again (one try of seeds 0-4: best 271, 452, 178, 359, 356;
    # last 12, 385, 160, 353, 356). A random policy scores about 22.
    best = max(float(row["mean"]) for row in rows_without_wall_time(tmp_path / "eval.csv"))
    assert best >= 100

"""The categorical return distribution of C51 (Bellemare, Dabney & Munos 2017, "A Distributional
Perspective on Reinforcement Learning", ICML; Algorithm 1), shared by algos/c51.py and algos/d4pg.py:
the projection of a shifted and shrunk distribution back onto fixed atoms, the cross-entropy
loss against the projected target, and the support's bounds taken from the task.
"""

from __future__ import annotations


import torch

from core.errors import ConfigError


def support_values(support: tuple[float, float] | None) -> dict[str, float | None]:
    """A task's support as the fields v_min and v_max; None where the task tells none."""
    return {"v_min": None, "v_max": None} if support is None else {"v_min": support[0], "v_max": support[1]}


def fill_support(config, known_for: str) -> None:
    """Set whichever of config.v_min and config.v_max the caller did not give to the task's support
    (`config.task_values()`); where the task has none, refuse, naming the missing field and the tasks whose
    support is known (`known_for`)."""
    missing = [name for name in ("v_min", "v_max") if name not in config.given()]
    if not missing:
        return
    support = config.task_values()
    if support["v_min"] is None:
        raise ConfigError(missing[0], f"v_min and v_max given for {config.env_id} under {config.env_protocol!r}: "
                          f"the range of its discounted returns is known here only for {known_for}",
                          f"no {' or '.join(missing)}")
    for name in missing:
        setattr(config, name, support[name])


def categorical_projection(next_probabilities: torch.Tensor, returns: torch.Tensor, discounts: torch.Tensor,
                           support: torch.Tensor) -> torch.Tensor:
    """Project the distribution of R + discount * Z, Z ~ next_probabilities (B, K) on `support`, onto
    `support` (Algorithm 1): each shifted atom Tz = clip(R + discount * z, V_min, V_max) gives its
    probability to the two atoms around it, in proportion to closeness. A terminal transition
    (discount 0) puts all the mass at the clipped return. A Tz that lands exactly on an atom gives it
    everything: taking `lower` at most K - 2 and the upper neighbour lower + 1 with weight
    (position - lower) never drops mass, where Algorithm 1's floor/ceil pair gives l = u weight 0."""
    atoms = support.shape[0]
    v_min, v_max = float(support[0]), float(support[-1])
    shifted = (returns.unsqueeze(-1) + discounts.unsqueeze(-1) * support).clamp(v_min, v_max)
    position = (shifted - v_min) * ((atoms - 1) / (v_max - v_min))  # in [0, K - 1]
    lower = position.floor().clamp(max=atoms - 2)
    upper_weight = position - lower  # in [0, 1]
    lower = lower.long()
    projected = torch.zeros_like(next_probabilities)
    projected.scatter_add_(-1, lower, next_probabilities * (1 - upper_weight))
    projected.scatter_add_(-1, lower + 1, next_probabilities * upper_weight)
    return projected


def categorical_cross_entropy(logits: torch.Tensor, target_probabilities: torch.Tensor) -> torch.Tensor:
    """-sum_i m_i log p_i per transition, with p = softmax(logits): the loss of the predicted
    distribution against the projected target m."""
    return -(target_probabilities * logits.log_softmax(-1)).sum(-1)

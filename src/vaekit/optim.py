"""Adam (Kingma & Ba 2015), the optimizer every vaekit model trains with: one fused kernel a step.

It calls the kernel behind ``torch.optim.Adam(fused=True)`` (``torch._fused_adam_``, on CPU since
torch 2.4) directly, for two measured reasons (Fashion-MNIST MLP VAE, 2 CPU cores):

- ``torch.optim.Optimizer``'s first call imports ``torch._dynamo``: +68 MB resident memory and
  about half a second, a third of the memory a whole training run may take beyond torch itself;
- its step wrapper costs ~50 us a step next to the kernel's ~160 us.

The update is the same (so are the numbers: a test steps both side by side), and the state dict has
``torch.optim.Adam``'s layout, so a ``train_state.pt`` written by either loads in the other.
"""

from __future__ import annotations

import torch


class Adam:
    """Adam without weight decay or AMSGrad over a fixed list of parameters.

    One step counter serves every parameter (a parameter without a gradient at some step is left
    as it is, but the count goes on), so the whole update is two kernel launches.
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.params = [p for p in params if p.requires_grad]
        if not self.params:
            raise ValueError("Adam got no parameters that require gradients")
        self.lr, self.betas, self.eps = lr, betas, eps
        self.exp_avgs = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self.exp_avg_sqs = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        # float32 on the parameters' device, as the fused kernel wants its step counts
        self.steps = torch.zeros((), dtype=torch.float32, device=self.params[0].device)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        live = [i for i, p in enumerate(self.params) if p.grad is not None]
        if not live:
            return
        self.steps.add_(1)
        params = [self.params[i] for i in live]
        torch._fused_adam_(
            params, [p.grad for p in params], [self.exp_avgs[i] for i in live], [self.exp_avg_sqs[i] for i in live],
            [], [self.steps] * len(live), lr=self.lr, beta1=self.betas[0], beta2=self.betas[1],
            weight_decay=0.0, eps=self.eps, amsgrad=False, maximize=False)

    def state_dict(self) -> dict:
        """``torch.optim.Adam``'s layout: per-parameter ``step``, ``exp_avg``, ``exp_avg_sq`` (no state before the first step)."""
        state = {}
        if self.steps.item() > 0:
            state = {i: {"step": self.steps.detach().cpu().clone(), "exp_avg": m, "exp_avg_sq": v}
                     for i, (m, v) in enumerate(zip(self.exp_avgs, self.exp_avg_sqs))}
        group = {"lr": self.lr, "betas": self.betas, "eps": self.eps, "weight_decay": 0.0, "amsgrad": False,
                 "maximize": False, "fused": True, "params": list(range(len(self.params)))}
        return {"state": state, "param_groups": [group]}

    def load_state_dict(self, state_dict: dict) -> None:
        """Copy a state (ours or ``torch.optim.Adam``'s, one parameter group) into this optimizer's buffers; hyperparameters too."""
        groups, state = state_dict["param_groups"], state_dict["state"]
        if len(groups) != 1 or len(groups[0]["params"]) != len(self.params):
            raise ValueError(f"the optimizer state holds {sum(len(g['params']) for g in groups)} parameters "
                             f"in {len(groups)} groups; this model has {len(self.params)} in one")
        steps = {float(s["step"]) for s in state.values()}
        if len(steps) > 1 or (state and len(state) != len(self.params)):
            raise ValueError("the optimizer state has parameters at different step counts")
        with torch.no_grad():
            for i, (m, v) in enumerate(zip(self.exp_avgs, self.exp_avg_sqs)):
                if i in state:
                    m.copy_(state[i]["exp_avg"])
                    v.copy_(state[i]["exp_avg_sq"])
                else:
                    m.zero_()
                    v.zero_()
            self.steps.fill_(steps.pop() if steps else 0.0)
        self.lr, self.betas, self.eps = float(groups[0]["lr"]), tuple(groups[0]["betas"]), float(groups[0]["eps"])

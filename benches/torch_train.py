#!/usr/bin/env python3
"""PyTorch (CPU) reference for benches/train_throughput.rs.

The same model, loss and optimiser as one `bead train` step of the default configuration:
VAE 76 -> 32 -> 16 -> 13 (ReLU MLP encoder, mu and log-variance heads, mirrored decoder with a
linear output), reparameterised sample, per-event masked MSE + analytic KL (+ the zero flow
term), each weighted per event and averaged, optionally + 0.5 * SupCon(mu, 3 source labels,
tau = 0.07), AdamW (lr 3e-3, betas 0.9/0.999, eps 1e-5 as burn's default, weight decay 1e-4).
Batch 512 of random data; like the trainer, every step builds its batch tensors from fresh
host arrays and reads the total and the five terms back as Python floats.

Usage: python3 benches/torch_train.py [--threads 1 2] [--steps 400] [--warmup 50] [--repeats 5]
Prints one JSON object per (loss, threads) on stdout: the best-of-repeats ms/step and events/s.
Installs the `torch` wheel from PyPI with pip if it is missing.
"""

import argparse
import json
import subprocess
import sys
import time

try:
    import torch
except ImportError:  # pragma: no cover - one-off setup
    print("torch missing: pip install torch (a large download)", file=sys.stderr)
    subprocess.check_call([sys.executable, "-m", "pip", "install", "torch", "numpy"])
    import torch

import numpy as np

BATCH, INPUTS, HIDDEN, LATENT = 512, 76, (32, 16), 13
SOURCES, TAU, SUPCON_WEIGHT, BETA, LR = 3, 0.07, 0.5, 1.0, 3e-3


class Vae(torch.nn.Module):
    def __init__(self):
        super().__init__()
        widths = (INPUTS, *HIDDEN)
        self.encoder = torch.nn.ModuleList(
            torch.nn.Linear(a, b) for a, b in zip(widths, widths[1:])
        )
        self.mu = torch.nn.Linear(widths[-1], LATENT)
        self.logvar = torch.nn.Linear(widths[-1], LATENT)
        dec = (LATENT, *reversed(HIDDEN), INPUTS)
        self.decoder = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in zip(dec, dec[1:]))

    def forward(self, x, eps):
        h = x
        for layer in self.encoder:
            h = torch.relu(layer(h))
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + torch.exp(0.5 * logvar) * eps
        for i, layer in enumerate(self.decoder):
            z = layer(z)
            if i + 1 < len(self.decoder):
                z = torch.relu(z)
        return mu, logvar, z


def masked_mse(recon, target, mask):
    diff = recon - target
    return (diff * diff * mask).sum(1) / mask.sum(1).clamp_min(1.0)


def kl_normal(mu, logvar):
    return 0.5 * (mu * mu + logvar.exp() - logvar - 1.0).sum(1)


def supcon(z, labels, tau):
    """bead_train::loss::supcon, with the B x B masks made on the tensor side."""
    b = z.shape[0]
    zn = z / ((z * z).sum(1, keepdim=True).sqrt() + 1e-8)
    sim = zn @ zn.t() / tau
    eye = torch.eye(b, dtype=torch.bool)
    not_self = (~eye).float()
    pos = ((labels[:, None] == labels[None, :]) & ~eye).float()
    npos = pos.sum(1)
    valid = (npos > 0).float()
    n_valid = valid.sum()
    if n_valid.item() == 0:
        return z.new_zeros(())
    logits = sim - sim.max(1, keepdim=True).values.detach()
    denom = ((logits.exp() * not_self).sum(1, keepdim=True)).log()
    log_prob = logits - denom
    mean_pos = (pos * log_prob).sum(1) / npos.clamp_min(1.0)
    return -(mean_pos * valid).sum() / n_valid


def run(use_supcon, threads, steps, warmup, repeats, reads):
    torch.set_num_threads(threads)
    torch.manual_seed(42)
    rng = np.random.default_rng(42)
    model = Vae()
    opt = torch.optim.AdamW(model.parameters(), lr=LR, betas=(0.9, 0.999), eps=1e-5,
                            weight_decay=1e-4)
    x_np = rng.standard_normal((BATCH, INPUTS), dtype=np.float32)
    mask_np = (rng.random((BATCH, INPUTS)) >= 0.05).astype(np.float32)
    eps_np = rng.standard_normal((BATCH, LATENT), dtype=np.float32)
    w_np = np.ones(BATCH, dtype=np.float32)
    labels = torch.from_numpy(rng.integers(0, SOURCES, BATCH))

    def step():
        # Fresh host buffers every step, as make_batch does.
        x = torch.from_numpy(x_np.copy())
        mask = torch.from_numpy(mask_np.copy())
        eps = torch.from_numpy(eps_np.copy())
        w = torch.from_numpy(w_np.copy())
        mu, logvar, recon = model(x, eps)
        r = (masked_mse(recon, x, mask) * w).mean()
        kl = (kl_normal(mu, logvar) * w).mean()
        flow = (torch.zeros(BATCH) * w).mean()
        sc = supcon(mu, labels, TAU) if use_supcon else torch.zeros(())
        nt = torch.zeros(())
        total = r + (kl + flow) * BETA + sc * SUPCON_WEIGHT + nt * 0.0
        if reads:
            terms = [t.item() for t in (total, r, kl, flow, sc, nt)]
            assert all(np.isfinite(terms))
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()

    for _ in range(warmup):
        step()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        best = min(best, (time.perf_counter() - t0) / steps)
    return {
        "framework": f"torch {torch.__version__}",
        "loss": "supcon" if use_supcon else "recon_kl",
        "threads": threads,
        "batch": BATCH,
        "reads": reads,
        "ms_per_step": round(best * 1e3, 4),
        "events_per_s": round(BATCH / best),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--loss", choices=["recon_kl", "supcon", "both"], default="both")
    ap.add_argument("--no-reads", action="store_true", help="skip the six .item() reads")
    args = ap.parse_args()
    torch.set_num_interop_threads(1)
    losses = {"recon_kl": [False], "supcon": [True], "both": [False, True]}[args.loss]
    for use_supcon in losses:
        for threads in args.threads:
            print(json.dumps(run(use_supcon, threads, args.steps, args.warmup, args.repeats,
                                 not args.no_reads)), flush=True)


if __name__ == "__main__":
    main()

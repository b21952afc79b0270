"""The usual PyTorch VAE script, as the bench's baseline (pytorch/examples ``vae/main.py`` style).

A ``Dataset`` hands out one float tensor per image, a ``DataLoader`` collates them into batches,
the decoder ends in a sigmoid and the loss is ``binary_cross_entropy`` on probabilities, summed
over the batch. Nothing here is tuned: it is what most VAE code on CPU looks like.
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset


class Images(Dataset):
    """uint8 images (N, 28, 28) -> one float tensor (1, 28, 28) in [0, 1] per item, like ToTensor()."""

    def __init__(self, x: np.ndarray):
        self.x = x

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.from_numpy(self.x[i]).float().div(255).unsqueeze(0)


class VAE(nn.Module):
    """encode / reparameterize / decode / forward, shared by both bodies."""

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        return mu + eps * std

    def forward(self, x):
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


class MLPVAE(VAE):
    """784-400-20-400-784, as in pytorch/examples."""

    def __init__(self, hidden: int = 400, latent: int = 20):
        super().__init__()
        self.fc1 = nn.Linear(784, hidden)
        self.fc21 = nn.Linear(hidden, latent)
        self.fc22 = nn.Linear(hidden, latent)
        self.fc3 = nn.Linear(latent, hidden)
        self.fc4 = nn.Linear(hidden, 784)

    def encode(self, x):
        h1 = F.relu(self.fc1(x.view(-1, 784)))
        return self.fc21(h1), self.fc22(h1)

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3)).view(-1, 1, 28, 28)


class ConvVAE(VAE):
    """The same shape as vaekit's conv body (default channels 32, 64) on 28x28 images."""

    def __init__(self, channels: tuple[int, int] = (32, 64), latent: int = 20):
        super().__init__()
        c1, c2 = channels
        self.conv1 = nn.Conv2d(1, c1, 3, stride=2, padding=1)  # 28 -> 14
        self.conv2 = nn.Conv2d(c1, c2, 3, stride=2, padding=1)  # 14 -> 7
        self.fc21 = nn.Linear(c2 * 7 * 7, latent)
        self.fc22 = nn.Linear(c2 * 7 * 7, latent)
        self.fc3 = nn.Linear(latent, c2 * 7 * 7)
        self.deconv1 = nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1)  # 7 -> 14
        self.deconv2 = nn.ConvTranspose2d(c1, 1, 4, stride=2, padding=1)  # 14 -> 28
        self.grid = (c2, 7, 7)

    def encode(self, x):
        h = F.relu(self.conv2(F.relu(self.conv1(x)))).flatten(1)  # (B, c2 * 7 * 7)
        return self.fc21(h), self.fc22(h)

    def decode(self, z):
        h = F.relu(self.fc3(z)).view(-1, *self.grid)  # (B, c2, 7, 7)
        return torch.sigmoid(self.deconv2(F.relu(self.deconv1(h))))  # (B, 1, 28, 28)


def loss_function(recon_x, x, mu, logvar):
    """Reconstruction + KL divergence, summed over the batch.

    KL from Kingma & Welling (2014), appendix B: -KL = 1/2 * sum(1 + log(sigma^2) - mu^2 - sigma^2).
    """
    bce = F.binary_cross_entropy(recon_x, x, reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


MODELS = {"mlp": MLPVAE, "conv": ConvVAE}


def train(arch: str, x_train: np.ndarray, x_test: np.ndarray, *, epochs: int = 3, batch_size: int = 128,
          lr: float = 1e-3, seed: int = 0, device: str = "cpu") -> dict:
    """Train the reference VAE; -> {"seconds" (training loop only), "samples_per_s", "test_neg_elbo"}."""
    torch.manual_seed(seed)
    device = torch.device(device)
    model = MODELS[arch]().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    train_loader = DataLoader(Images(x_train), batch_size=batch_size, shuffle=True)
    test_loader = DataLoader(Images(x_test), batch_size=batch_size)
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        train_loss = 0.0
        for data in train_loader:
            data = data.to(device)
            optimizer.zero_grad()
            recon_batch, mu, logvar = model(data)
            loss = loss_function(recon_batch, data, mu, logvar)
            loss.backward()
            train_loss += loss.item()
            optimizer.step()
    seconds = time.perf_counter() - start
    model.eval()
    test_loss = 0.0
    with torch.no_grad():
        for data in test_loader:
            data = data.to(device)
            recon_batch, mu, logvar = model(data)
            test_loss += loss_function(recon_batch, data, mu, logvar).item()
    return {"seconds": seconds, "samples_per_s": epochs * len(x_train) / seconds,
            "test_neg_elbo": test_loss / len(x_test), "train_neg_elbo_last_epoch": train_loss / len(x_train)}

import pytest


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory):
    """A small VAE trained once on digits, shared by tests that only read a run folder."""
    from vaekit.api import train

    out = tmp_path_factory.mktemp("runs") / "vae"
    return train(out=out, verbose=False, epochs=3, latent_dim=4, hidden=(32,)).run


@pytest.fixture
def one_thread():
    """Tiny models: one thread avoids oversubscription on shared CPUs."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

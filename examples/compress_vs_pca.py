"""Compress and visualise: an autoencoder as dimensionality reduction, next to PCA.

    python examples/compress_vs_pca.py            # full: digits and Fashion-MNIST
    python examples/compress_vs_pca.py --quick    # CI: digits, few epochs

For each data set: a 2-D AE code vs the first 2 principal components (scatter plots coloured by
class, docs/figures/compress/<data>-2d.png), and the test reconstruction MSE (on [0, 1] pixels) of
an AE and of PCA with the same number of dimensions.
"""

import argparse
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA

from vaekit import load, plots
from vaekit.api import train
from vaekit.config import DataConfig
from vaekit.data.datasets import load_data


def compare(data: str, dims: int, epochs: int, out: Path) -> dict:
    run = out / "runs" / f"ae-{data}-{dims}"
    if not (run / "model.safetensors").exists():
        hidden = (256, 128) if data == "digits" else (512, 256)
        train(out=run, verbose=False, data=data, model="ae", latent_dim=dims, hidden=hidden, epochs=epochs, patience=10)
    m = load(run)
    d = load_data(DataConfig(name=data), scaler=m.scaler)
    train_x = m.scaler.transform(d.part("train")).reshape(len(d.splits["train"]), -1)
    test_raw = d.part("test")
    test_x = m.scaler.transform(test_raw).reshape(len(test_raw), -1)
    pca = PCA(n_components=dims, random_state=0).fit(train_x)
    pca_mse = np.mean((pca.inverse_transform(pca.transform(test_x)) - test_x) ** 2)
    ae_mse = np.mean((m.scaler.transform(m.reconstruct(test_raw)).reshape(len(test_raw), -1) - test_x) ** 2)
    labels = d.y[d.splits["test"]]
    if dims == 2:
        plots.save_latent(out / f"{data}-ae-2d.png", m.encode(test_raw), labels, d.classes)
        plots.save_latent(out / f"{data}-pca-2d.png", pca.transform(test_x), labels, d.classes)
    return {"data": data, "dims": dims, "ae_mse": float(ae_mse), "pca_mse": float(pca_mse)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny settings for CI")
    parser.add_argument("--out", default="docs/figures/compress", help="folder for figures and runs")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sets = ["digits"] if args.quick else ["digits", "fashion-mnist"]
    print(f"{'data':15} {'dims':>4} {'AE MSE':>8} {'PCA MSE':>8}")
    for data in sets:
        for dims in (2, 8 if data == "digits" else 32):
            r = compare(data, dims, 3 if args.quick else (150 if data == "digits" else 15), out)
            print(f"{r['data']:15} {r['dims']:>4} {r['ae_mse']:8.4f} {r['pca_mse']:8.4f}")


if __name__ == "__main__":
    main()

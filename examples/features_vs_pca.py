"""Encoder features vs PCA: the same number of dimensions, fed to logistic regression.

    python examples/features_vs_pca.py            # full: digits and Fashion-MNIST
    python examples/features_vs_pca.py --quick    # CI: few epochs, Fashion-MNIST subsampled
    python examples/features_vs_pca.py --data digits --dims 2,5,10

For each data set and code size d, an AE, a VAE (vaekit.sklearn estimators) and PCA with d
components are fitted on the training split; a standardized logistic regression on their codes
is scored on the test split (accuracy), and each one's reconstruction of the test split is
compared with it (MSE on [0, 1] pixels). Fashion-MNIST is skipped, with a note, when no copy can
be found or downloaded. The table is printed and saved as features_vs_pca.json under --out.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from vaekit.config import DataConfig
from vaekit.data.datasets import load_data
from vaekit.errors import VaekitError
from vaekit.sklearn import AutoencoderTransformer, VAETransformer

FULL = {  # data set -> estimator settings
    "digits": {"hidden": (256, 128), "epochs": 100},
    "fashion-mnist": {"hidden": (512, 256), "epochs": 30},
}
QUICK = {
    "digits": {"hidden": (128,), "epochs": 15},
    "fashion-mnist": {"hidden": (128,), "epochs": 3, "n_train": 3000, "n_test": 1000},
}


def splits(name: str, n_train: int | None = None, n_test: int | None = None, seed: int = 0):
    """(x_train, y_train, x_test, y_test): flat float32 pixels in [0, 1]; optionally subsampled."""
    data = load_data(DataConfig(name=name), seed=seed)
    rng = np.random.default_rng(seed)
    out = []
    for split, n in (("train", n_train), ("test", n_test)):
        idx = data.splits[split]
        if n is not None and n < len(idx):
            idx = np.sort(rng.choice(idx, n, replace=False))
        x = data.scaler.transform(data.x[idx])  # minmax from the training split: [0, 1]
        out += [x.reshape(len(idx), -1), data.y[idx]]
    return tuple(out)


def evaluate(reducer, x_train, y_train, x_test, y_test) -> dict:
    """Fit the reducer, then a logistic regression on its codes; -> accuracy and reconstruction MSE."""
    start = time.perf_counter()
    z_train = reducer.fit_transform(x_train)
    z_test = reducer.transform(x_test)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(z_train, y_train)
    recon = reducer.inverse_transform(z_test)
    return {"accuracy": float(clf.score(z_test, y_test)), "mse": float(np.mean((recon - x_test) ** 2)),
            "seconds": round(time.perf_counter() - start, 1)}


def compare(name: str, dims: list[int], settings: dict) -> list[dict]:
    x_train, y_train, x_test, y_test = splits(name, settings.pop("n_train", None), settings.pop("n_test", None))
    rows = []
    for d in dims:
        # The pixels are already in [0, 1]: no further scaling, and the Bernoulli likelihood applies.
        common = {"latent_dim": d, "scale": "none", "random_state": 0, **settings}
        reducers = {"PCA": PCA(n_components=d, random_state=0),
                    "AE": AutoencoderTransformer(**common), "VAE": VAETransformer(**common)}
        for method, reducer in reducers.items():
            result = evaluate(reducer, x_train, y_train, x_test, y_test)
            rows.append({"data": name, "dims": d, "method": method, **result})
            print(f"{name:14} d={d:<3} {method:4} accuracy {result['accuracy']:.3f}   "
                  f"reconstruction MSE {result['mse']:.4f}   ({result['seconds']}s)", flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few epochs and a Fashion-MNIST subsample (for CI)")
    parser.add_argument("--dims", default=None, help="code sizes to compare, comma-separated [default: 2,10; --quick: 8]")
    parser.add_argument("--data", default="digits,fashion-mnist", help="data sets, comma-separated")
    parser.add_argument("--out", default="docs/figures/features", help="folder for features_vs_pca.json")
    args = parser.parse_args()
    dims = [int(d) for d in (args.dims or ("8" if args.quick else "2,10")).split(",")]
    rows = []
    for name in args.data.split(","):
        table = QUICK if args.quick else FULL
        settings = table.get(name, table["fashion-mnist"])  # other data sets (files, say) as the larger one
        try:
            rows += compare(name, dims, dict(settings))
        except VaekitError as e:  # e.g. no Fashion-MNIST copy and no network
            print(f"{name}: skipped ({e})")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "features_vs_pca.json").write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()

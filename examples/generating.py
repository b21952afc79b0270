"""Generating: an AE's random codes decode to garbage, a VAE's to new data. Measured.

    python examples/generating.py            # full: digits (100 epochs) and Fashion-MNIST (20 epochs), ~15 min on 2 cores
    python examples/generating.py --quick    # CI: digits, 3 epochs, K = 20
    python examples/generating.py --data digits   # one data set: its rows of frechet.json are replaced

Runs `vaekit compare` (AE, DAE and VAE with the same body, seed and budget) on each data set,
copies each model's prior samples (decoded z ~ N(0, I)) to docs/figures/generating/<data>-<model>.png,
and prints the Frechet distance of those samples to the test images, with the ratio of the AE's
to the VAE's distance above the floor (the distance between training and test images).
A data set's runs are kept in OUT/runs/<data> and reused; delete that folder to train them again.
"""

import argparse
import json
import shutil
from pathlib import Path

from vaekit.evaluation import compare_models


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny settings for CI")
    parser.add_argument("--out", default="docs/figures/generating", help="folder for the figures and the runs")
    parser.add_argument("--data", choices=["digits", "fashion-mnist"], action="append",
                        help="only this data set (repeatable) [default: both; digits with --quick]")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table = json.loads((out / "frechet.json").read_text()) if (out / "frechet.json").exists() else {}
    for data in args.data or (["digits"] if args.quick else ["digits", "fashion-mnist"]):
        folder = out / "runs" / data
        if (folder / "compare.json").exists():
            results = json.loads((folder / "compare.json").read_text())
        else:
            shutil.rmtree(folder, ignore_errors=True)
            # K = 100 on Fashion-MNIST's 10,000 test images keeps the log p(x) estimate to minutes
            k = 20 if args.quick else (1000 if data == "digits" else 100)
            _, results = compare_models(folder, data=data, epochs=3 if args.quick else None, iw_samples=k,
                                        verbose=not args.quick)
        for model in results:
            shutil.copy(folder / model / "figures" / "samples.png", out / f"{data}-{model}.png")
        table[data] = {m: r["frechet_distance"] for m, r in results.items()}
        table[data]["floor"] = results["vae"]["frechet_distance_reference"]
        for m, r in results.items():  # the spread over draws, and the model sampled from a Gaussian fitted to its codes
            table[data].update({f"{m}_{key}": r[f"frechet_distance_{key}"] for key in ("sd", "fitted_codes")
                                if f"frechet_distance_{key}" in r})
            table[data][f"{m}_mse"] = r["mse"]
    print(f"{'data':15} {'AE':>8} {'DAE':>8} {'VAE':>8} {'floor':>8} {'AE/VAE above the floor':>23} {'AE, fitted codes':>17}")
    for data, fd in table.items():
        ratio = (fd["ae"] - fd["floor"]) / (fd["vae"] - fd["floor"])
        fitted = f"{fd['ae_fitted_codes']:17.1f}" if "ae_fitted_codes" in fd else f"{'-':>17}"
        print(f"{data:15} {fd['ae']:8.1f} {fd['dae']:8.1f} {fd['vae']:8.1f} {fd['floor']:8.1f} {ratio:23.1f} {fitted}")
    (out / "frechet.json").write_text(json.dumps(table, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""What vaekit's models learn on Fashion-MNIST and digits, measured as `vaekit evaluate` does.

    python examples/fashion_targets.py            # full settings below (hours on 2 CPU cores, minutes on a GPU)
    python examples/fashion_targets.py --quick    # CI smoke run: digits, tiny models, small K

Full settings (seed 0, Adam lr 1e-3, batch 128, no early stopping, the official 10,000 test images):

1. likelihood: the standard MLP VAE 784-400-20 (--hidden 400 --latent-dim 20, Bernoulli
   likelihood) on dynamically binarized Fashion-MNIST (a fresh Bernoulli draw of every batch),
   trained for 20 and for 100 epochs. Reported: test -ELBO and the importance-weighted estimate of
   log p(x) with K = 5,000 on the fixed-seed binarized test set, in nats per example. Reference: a
   plain 20-epoch run reaches about 240 nats -ELBO and 237 with K = 100.
2. codes: an AE and a VAE with 32-dim codes (hidden 512,256, grey levels, 30 epochs) against
   PCA-32: reconstruction MSE per pixel on [0, 1] pixels (PCA-32: 0.0151) and the test accuracy
   of a logistic regression on the codes (PCA-32: 81.5%).
3. samples: the Frechet distance of decoded prior samples to the test images, in the features of
   vaekit's classifier (not Inception, which cannot be fetched here: compare within the table),
   for the AE and the VAE of 2, and for `vaekit compare`'s defaults on digits; the AE/VAE ratio.

Runs are kept under OUT/runs and reused when present, so an interrupted job picks up where it
stopped. Writes OUT/targets.json and OUT/targets.md.
"""

import argparse
import json
import time
from pathlib import Path

import torch

from vaekit import evaluation, features, metrics
from vaekit.api import train
from vaekit.trainer import resolve_device
from vaekit.trained import Trained

FULL = {
    "likelihood": {"data": "fashion-mnist", "hidden": (400,), "latent_dim": 20, "epochs": (20, 100)},
    "codes": {"data": "fashion-mnist", "hidden": (512, 256), "latent_dim": 32, "epochs": 30},
    "iw_samples": 5000, "iw_examples": None, "classifier_steps": None, "digits_epochs": None,
}
QUICK = {
    "likelihood": {"data": "digits", "hidden": (32,), "latent_dim": 4, "epochs": (1, 2)},
    "codes": {"data": "digits", "hidden": (32,), "latent_dim": 8, "epochs": 2},
    "iw_samples": 20, "iw_examples": 100, "classifier_steps": 100, "digits_epochs": 2,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny settings for CI")
    parser.add_argument("--out", default="runs/targets", help="folder for the results and the runs")
    parser.add_argument("--iw-samples", type=int, default=None, help="K of the log p(x) estimate [5000; quick 20]")
    parser.add_argument("--iw-examples", type=int, default=None,
                        help="score log p(x) on the first N test images only [all; quick 100]")
    parser.add_argument("--likelihood-epochs", default=None, help="comma-separated epochs of the binarized VAE [20,100]")
    parser.add_argument("--code-epochs", type=int, default=None, help="epochs of the 32-dim AE and VAE [30]")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    args = parser.parse_args()
    settings = QUICK if args.quick else FULL
    if args.likelihood_epochs:
        settings["likelihood"]["epochs"] = tuple(int(e) for e in args.likelihood_epochs.split(","))
    if args.code_epochs:
        settings["codes"]["epochs"] = args.code_epochs
    if settings["classifier_steps"]:
        features.CLASSIFIER_STEPS = settings["classifier_steps"]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    k = args.iw_samples or settings["iw_samples"]
    n_iw = args.iw_examples or settings["iw_examples"]
    results = {"settings": {"quick": args.quick, "iw_samples": k, "iw_examples": n_iw,
                            "likelihood": settings["likelihood"], "codes": settings["codes"]}}
    results["likelihood"] = likelihood(out, settings["likelihood"], k, n_iw, args.device)
    results["codes"] = codes(out, settings["codes"], args.device)
    results["digits"] = digits(out, settings["digits_epochs"], args.device)
    (out / "targets.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "targets.md").write_text(markdown(results))
    print(markdown(results))


def run(out: Path, name: str, device: str, **options) -> Trained:
    """Train the run OUT/runs/NAME, or load it when a finished one is there."""
    folder = out / "runs" / name
    if (folder / "summary.json").is_file():
        return Trained.load(folder, device=str(resolve_device(device)))
    start = time.perf_counter()
    trained = train(out=folder, verbose=False, seed=0, patience=0, device=device, **options)
    print(f"trained {name} in {time.perf_counter() - start:.0f}s", flush=True)
    return trained


def likelihood(out: Path, s: dict, k: int, n_iw: int | None, device: str) -> list[dict]:
    """-ELBO on the whole binarized test split, and IW log p(x) on its first n_iw images."""
    rows = []
    for epochs in s["epochs"]:
        trained = run(out, f"vae-binarized-{epochs}", device, data=s["data"], hidden=s["hidden"],
                      latent_dim=s["latent_dim"], epochs=epochs, binarize="dynamic")
        model = trained.module.eval()
        data = evaluation.load_run_data(trained)
        x, _ = metrics.split_tensor(data, "test", next(model.parameters()).device, binarize="dynamic", seed=0)
        start = time.perf_counter()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            bound = metrics.elbo(model, x)
            subset = x if n_iw is None else x[:n_iw]
            log_px = metrics.iw_log_likelihood(model, subset, k)
            bound_subset = metrics.elbo(model, subset)["neg_elbo"]
        rows.append({"epochs": epochs, "neg_elbo": bound["neg_elbo"], "kl": bound["kl"],
                     "active_units": bound["active_units"], "iw_samples": k, "iw_examples": len(subset),
                     "neg_elbo_on_iw_examples": bound_subset, "iw_neg_log_likelihood": -log_px.mean().item(),
                     "iw_stderr": (log_px.std() / len(log_px) ** 0.5).item(),
                     "iw_seconds": time.perf_counter() - start})
        print(f"likelihood, {epochs} epochs: {rows[-1]}", flush=True)
    return rows


def codes(out: Path, s: dict, device: str) -> dict:
    """AE and VAE with the same body and code size, evaluated like `vaekit evaluate` (K=100)."""
    found = {}
    for model in ("ae", "vae"):
        trained = run(out, f"{model}-{s['latent_dim']}-{s['epochs']}", device, model=model, data=s["data"], hidden=s["hidden"],
                      latent_dim=s["latent_dim"], epochs=s["epochs"])
        found[model] = evaluation.evaluate_run(trained.run, iw_samples=100, device=device)
        keep = ("mse", "pca_mse", "probe_accuracy", "pca_probe_accuracy", "knn_accuracy", "frechet_distance")
        print(f"codes, {model}: " + ", ".join(f"{key} {found[model].get(key)}" for key in keep), flush=True)
    return found


def digits(out: Path, epochs: int | None, device: str) -> dict:
    """`vaekit compare` on digits, its defaults unless --quick."""
    folder = out / "runs" / "compare-digits"
    if (folder / "compare.json").is_file():
        return json.loads((folder / "compare.json").read_text())
    _, results = evaluation.compare_models(folder, epochs=epochs, device=device, verbose=False,
                                           iw_samples=20 if epochs else metrics.DEFAULT_IW_SAMPLES)
    return results


def markdown(r: dict) -> str:
    lines = ["# Targets", "", "## Log-likelihood (dynamically binarized data, nats per example)", "",
             "| epochs | test -ELBO | -log p(x), IW | K | test images for IW | -ELBO on those | KL | active units |",
             "|---|---|---|---|---|---|---|---|"]
    for row in r["likelihood"]:
        lines.append(f"| {row['epochs']} | {row['neg_elbo']:.2f} | {row['iw_neg_log_likelihood']:.2f} "
                     f"(+-{row['iw_stderr']:.2f}) | {row['iw_samples']} | {row['iw_examples']} | "
                     f"{row['neg_elbo_on_iw_examples']:.2f} | {row['kl']:.2f} | {row['active_units']} |")
    lines += ["", "## Codes and samples (grey levels)", "",
              "| data | model | MSE/pixel | PCA MSE | linear probe | PCA probe | Frechet distance | floor |",
              "|---|---|---|---|---|---|---|---|"]
    for section in ("codes", "digits"):
        for name, e in r[section].items():
            lines.append(f"| {e['data']} | {name} (latent {e['latent_dim']}) | {e['mse']:.4f} | {e['pca_mse']:.4f} | "
                         f"{e.get('probe_accuracy', float('nan')):.3f} | {e.get('pca_probe_accuracy', float('nan')):.3f} | "
                         f"{e.get('frechet_distance', float('nan')):.1f} | "
                         f"{e.get('frechet_distance_reference', float('nan')):.1f} |")
        ratio = r[section]["ae"]["frechet_distance"] / r[section]["vae"]["frechet_distance"]
        lines.append(f"| {r[section]['vae']['data']} | AE / VAE Frechet distance | | | | | {ratio:.1f}x | |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

"""Steering the KL: VAE variants on Fashion-MNIST, side by side in one table.

    python examples/kl_table.py            # full: Fashion-MNIST, 8 models x up to 30 epochs, K = 1,000
    python examples/kl_table.py --quick    # CI: digits, 2 epochs, K = 20

Trains a VAE, beta = 0.5 and 4, a linear KL warm-up, cyclical annealing, free bits, an IWAE
(k = 5) and a CVAE, all with the same MLP, latent size, seed and dynamic binarization, and
measures on the test split:

- test -ELBO (nats per example) on the fixed-seed binarized test set, so it and the next column
  are log-likelihood bounds comparable with the literature (Burda et al. 2016 on MNIST: VAE
  86.76, IWAE 84.78 nats);
- log p(x) estimated with K importance samples (``vaekit.metrics.iw_log_likelihood``, the same
  estimator as ``vaekit evaluate``), on the first ``--iw-examples`` test images;
- the KL (nats) and active units (Burda et al.: Cov_x E[z_i|x] > 0.01) out of the latent size;
- the Frechet distance between test images and decoded prior samples, in the features of the
  classifier that ``vaekit evaluate`` trains (not Inception: compare only within this table);
- for the CVAE, the share of its samples of each class that the same classifier puts in that
  class. The CVAE's bounds are of log p(x | y), not log p(x): marked "given y", they are lower
  than a VAE's by up to log 10 nats for knowing the class.

Writes OUT/kl_table.md and OUT/kl_table.json, and the runs under OUT/runs (reused when present).
"""

import argparse
import json
import math
from pathlib import Path

import torch

from vaekit import evaluation, features, metrics
from vaekit.api import train
from vaekit.trained import Trained

VARIANTS = [  # (run folder, name in the table, options on top of the shared ones)
    ("vae", "VAE", {}),
    ("beta-0.5", "beta = 0.5", {"beta": 0.5}),
    ("beta-4", "beta = 4", {"beta": 4.0}),
    ("warmup", "warm-up 10 epochs", {"kl_warmup": 10}),
    ("cyclical", "cyclical, 4 x (3 + 3) epochs", {"kl_warmup": 3, "kl_cycles": 4}),
    ("free-bits", "free bits 0.5", {"free_bits": 0.5}),
    ("iwae", "IWAE k = 5", {"model": "iwae", "k": 5}),
    ("cvae", "CVAE", {"model": "cvae"}),
]
FULL = {"data": "fashion-mnist", "hidden": (512, 256), "latent_dim": 16, "epochs": 30, "patience": 10}
QUICK = {"data": "digits", "hidden": (32,), "latent_dim": 4, "epochs": 2, "patience": 0}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny settings for CI")
    parser.add_argument("--out", default="docs/figures/kl", help="folder for the table and the runs")
    parser.add_argument("--iw-samples", type=int, default=None, help="K of the log p(x) estimate [1000; quick 20]")
    parser.add_argument("--iw-examples", type=int, default=None, help="test images for log p(x) [2000; quick 100]")
    parser.add_argument("--epochs", type=int, default=None, help="epochs of every model [30; quick 2]")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    shared = {**(QUICK if args.quick else FULL), "binarize": "dynamic", "seed": 0, "device": args.device}
    if args.epochs is not None:
        shared["epochs"] = args.epochs
    k = args.iw_samples or (20 if args.quick else 1000)
    n_iw = args.iw_examples or (100 if args.quick else 2000)

    rows = []
    classifier = None
    for slug, name, options in VARIANTS:
        run = out / "runs" / slug
        if not (run / "summary.json").exists():
            print(f"training {name} ...", flush=True)
            train(out=run, verbose=False, **shared, **options)
        trained = Trained.load(run, device=_device(args.device))
        data = evaluation.load_run_data(trained)
        if classifier is None:  # one classifier scores every model
            device = next(trained.module.parameters()).device
            classifier = features.feature_classifier(data, device, steps=200 if args.quick else features.CLASSIFIER_STEPS)
        rows.append(measure(name, trained, data, classifier, k, n_iw))
        print(_line(rows[-1]), flush=True)

    table = markdown(rows, shared, k, n_iw, classifier)
    (out / "kl_table.md").write_text(table)
    (out / "kl_table.json").write_text(json.dumps({"settings": {**shared, "iw_samples": k, "iw_examples": n_iw},
                                                   "rows": rows}, indent=2, default=str))
    print()
    print(table)
    print(f"table: {out / 'kl_table.md'}")


def _device(name: str) -> str:
    return ("cuda" if torch.cuda.is_available() else "cpu") if name == "auto" else name


@torch.no_grad()
def measure(name, trained, data, classifier, k: int, n_iw: int) -> dict:
    """One row of the table: the metrics of ``vaekit evaluate``, log p(x) on the first n_iw test images."""
    model = trained.module.eval()
    device = next(model.parameters()).device
    conditional = bool(model.cfg.n_classes)
    x, y = metrics.split_tensor(data, "test", device, binarize="dynamic", seed=0)  # fixed-seed 0/1 test set
    labels = y if conditional else None  # the cvae's bounds are of log p(x | y)
    torch.manual_seed(0)
    bound = metrics.elbo(model, x, labels)
    log_px = metrics.iw_log_likelihood(model, x[:n_iw], k, None if labels is None else labels[:n_iw])
    grey, _ = metrics.split_tensor(data, "test", device)
    train_grey, _ = metrics.split_tensor(data, "train", device)
    reference = train_grey[torch.randperm(len(train_grey), generator=torch.Generator().manual_seed(0))[: len(grey)]]
    generation = metrics.generation(model, classifier, grey, reference.to(device))
    row = {
        "variant": name,
        "objective": model.objective(),
        "test_neg_elbo": bound["neg_elbo"],
        "iw_log_likelihood": log_px.mean().item(),
        "kl": bound["kl"],
        "active_units": bound["active_units"],
        "latent_dim": model.cfg.latent_dim,
        "conditional": conditional,
        "frechet_distance": generation["frechet_distance"],
        "frechet_distance_reference": generation["frechet_distance_reference"],
    }
    if conditional:  # does each class come out as asked?
        per_class = []
        for c in range(model.cfg.n_classes):
            samples = model.sample(200, labels=c)
            per_class.append((classifier.net(samples).argmax(1) == c).float().mean().item())
        row["class_accuracy"] = sum(per_class) / len(per_class)
        row["class_accuracy_per_class"] = per_class
    return row


def _fmt(value, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _line(row: dict) -> str:
    return (f"{row['variant']:<28} -ELBO {_fmt(row['test_neg_elbo'])}  log p(x) {_fmt(row['iw_log_likelihood'])}  "
            f"AU {row['active_units']}/{row['latent_dim']}  KL {_fmt(row['kl'])}  FD {_fmt(row['frechet_distance'])}")


def markdown(rows: list[dict], shared: dict, k: int, n_iw: int, classifier) -> str:
    floor = rows[0]["frechet_distance_reference"]
    lines = [
        f"VAE variants on {shared['data']} (dynamically binarized; MLP {','.join(map(str, shared['hidden']))}, "
        f"latent {shared['latent_dim']}, up to {shared['epochs']} epochs, seed {shared['seed']}).",
        "",
        f"| variant | objective | test -ELBO (nats) | log p(x), K={k} (nats) | KL (nats) | active units | "
        "Frechet distance | CVAE class accuracy |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        given = " (given y)" if r["conditional"] else ""
        lines.append(f"| {r['variant']} | {r['objective']} | {_fmt(r['test_neg_elbo'])}{given} | "
                     f"{_fmt(r['iw_log_likelihood'])}{given} | {_fmt(r['kl'])} | "
                     f"{r['active_units']}/{r['latent_dim']} | {_fmt(r['frechet_distance'])} | "
                     f"{_fmt(r.get('class_accuracy'))} |")
    lines += [
        "",
        f"log p(x): importance-weighted estimate on the first {n_iw} test images. Frechet distance: classifier "
        f"features (test accuracy {classifier.test_accuracy:.3f}), test images vs as many prior samples; the "
        f"train-vs-test floor is {floor:.2f}. Lower -ELBO and Frechet distance are better; higher log p(x) is.",
    ]
    if not math.isfinite(floor):
        lines.append("(the reference distance is not finite: too few test images for the feature covariance)")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

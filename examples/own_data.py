"""Your own data: a folder of images, a CSV file and a .npy array, each one option away.

    python examples/own_data.py            # full: 60 epochs each
    python examples/own_data.py --quick    # CI: 2 epochs each

Writes three small data sets made from scikit-learn's digits (so the script runs anywhere),
trains a VAE on each with `vaekit train --data PATH`, and copies each run's reconstructions to
docs/figures/own_data/<kind>.png.
"""

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits


def write_files(folder: Path) -> dict[str, list[str]]:
    """The same digits as an ImageFolder tree, a CSV with a label column, and a uint8 .npy."""
    digits = load_digits()
    images = (digits.images * 255 / 16).astype(np.uint8)  # (1797, 8, 8)
    for i, (img, label) in enumerate(zip(images, digits.target)):
        (folder / "images" / f"digit{label}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).resize((16, 16)).save(folder / "images" / f"digit{label}" / f"{i}.png")
    header = ",".join([f"p{i}" for i in range(64)] + ["label"])
    rows = [",".join(map(str, [*row, label])) for row, label in zip(digits.data.astype(int), digits.target)]
    (folder / "digits.csv").write_text("\n".join([header, *rows]) + "\n")
    np.save(folder / "digits.npy", images)
    return {
        "images": ["--data", str(folder / "images"), "--arch", "conv"],
        "csv": ["--data", str(folder / "digits.csv"), "--label-column", "label"],
        "npy": ["--data", str(folder / "digits.npy")],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny settings for CI")
    parser.add_argument("--out", default="docs/figures/own_data", help="folder for the figures, files and runs")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    epochs = "2" if args.quick else "60"
    for kind, options in write_files(out / "files").items():
        run = out / "runs" / kind
        shutil.rmtree(run, ignore_errors=True)
        command = [sys.executable, "-m", "vaekit", "train", *options, "--epochs", epochs, "--out", str(run), "--quiet"]
        print("$", " ".join(command[1:]))
        subprocess.run(command, check=True)
        shutil.copy(run / "figures" / "reconstructions.png", out / f"{kind}.png")


if __name__ == "__main__":
    main()

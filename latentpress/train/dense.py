"""Train report 004's dense autoencoder on MNIST-style IDX data.

    python -m latentpress.train.dense --data ../shared/data/mnist --code 64 --run runs/dense-mnist-64
    python -m latentpress.train.dense --data /usr/share/datasets/fashion-mnist --code 64 \
        --run runs/dense-fashion-64

The data folder holds IDX files (gzip or not). With ``train-images-idx3-ubyte`` and
``t10k-images-idx3-ubyte`` (Fashion-MNIST, the full MNIST) the model trains on the first
and is measured on the second; with only ``t10k-images-idx3-ubyte`` (../shared/data/mnist:
the 10,000-digit MNIST test split) the first 8,000 images train and the last 2,000 are
held out.

Report 004: Huseyin Can Ercan, "Image Compression with Autoencoders" (2018). As the
report: sigmoid after every layer, RMSprop, loss = the RMSE of the reconstruction
(pixels in [0, 1]). The report gives neither its learning rate nor its batch size ("for
every example" suggests one); ours are ``--lr`` 1e-3 and ``--batch`` 32. An iteration of
its Table 2 is taken to be an epoch, one pass over the training images.

Each epoch logs the mean training RMSE and the held-out RMSE and MSE (log.jsonl) and
writes a checkpoint; a rerun with the same --run resumes. ``--export`` writes the shipped
weights: float16 parameters plus the code's frequency tables (codecs/dense/model.py
fit_priors).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from tqdm import tqdm

from latentpress.codecs.dense.model import PIXELS, DenseAutoencoder, fit_priors
from latentpress.errors import ImageError
from latentpress.train.idx import read_idx
from latentpress.train.loop import CHECKPOINT, LOG, read_checkpoint, truncate_log, write_checkpoint

SPLIT = 8000          # of a test-split-only folder: the first SPLIT train, the rest are held out


def _find(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (folder / name).exists():
            return folder / name
    return None


def load_split(folder: str | Path) -> tuple[torch.Tensor, torch.Tensor, str]:
    """(training images, held-out images) as N×784 float tensors in [0, 1], and a description."""
    folder = Path(folder)
    train, test = _find(folder, "train-images-idx3-ubyte"), _find(folder, "t10k-images-idx3-ubyte")
    if test is None:
        raise ImageError(f"no t10k-images-idx3-ubyte(.gz) in {folder}")

    def flat(path: Path) -> torch.Tensor:
        images = read_idx(path)
        if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
            raise ImageError(f"{path}: expected N×28×28 uint8 images, got {images.shape} {images.dtype}")
        return torch.from_numpy(images.reshape(len(images), PIXELS).astype(np.float32) / 255.0)

    if train is not None:
        x_train, x_test = flat(train), flat(test)
        return x_train, x_test, f"{train.name} ({len(x_train)}) / {test.name} ({len(x_test)})"
    images = flat(test)
    if len(images) <= SPLIT:
        raise ImageError(f"{test}: {len(images)} images; a test split alone needs more than {SPLIT} "
                         f"(the first {SPLIT} train, the rest are held out)")
    return images[:SPLIT], images[SPLIT:], f"{test.name}: first {SPLIT} / last {len(images) - SPLIT}"


def held_out_error(model: DenseAutoencoder, images: torch.Tensor) -> dict[str, float]:
    with torch.no_grad():
        mse = float(torch.mean((model(images) - images) ** 2))
    return {"test_rmse": mse ** 0.5, "test_mse": mse}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="folder of IDX files")
    parser.add_argument("--run", required=True, help="checkpoint/log folder")
    parser.add_argument("--code", type=int, default=64, help="width of the middle layer")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--export", help="write the shipped weights (float16 + code tables) here")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    x_train, x_test, split = load_split(args.data)
    if not len(x_train) or not len(x_test):
        parser.error(f"{args.data}: an empty training or held-out set ({split})")
    torch.manual_seed(args.seed)
    model = DenseAutoencoder(code=args.code)
    optimizer = torch.optim.RMSprop(model.parameters(), lr=args.lr)
    out = Path(args.run)
    out.mkdir(parents=True, exist_ok=True)
    parts = {"model.": model, "optimizer.": optimizer}
    start = int(read_checkpoint(out / CHECKPOINT, parts)["step"]) if (out / CHECKPOINT).exists() else 0
    truncate_log(out / LOG, start)
    (out / "config.json").write_text(json.dumps({**vars(args), "split": split}, indent=2))
    started = time.monotonic()
    with open(out / LOG, "a") as log, tqdm(total=args.epochs, initial=start, unit="epoch") as bar:
        for epoch in range(start, args.epochs):
            order = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(args.seed * 100_003 + epoch))
            total, batches = 0.0, 0
            for i in range(0, len(order), args.batch):
                x = x_train[order[i:i + args.batch]]
                optimizer.zero_grad(set_to_none=True)
                loss = torch.sqrt(torch.mean((model(x) - x) ** 2))
                loss.backward()
                optimizer.step()
                total, batches = total + loss.item(), batches + 1
            record = {"step": epoch + 1, "seconds": round(time.monotonic() - started, 1),
                      "train_rmse": total / batches, **held_out_error(model, x_test)}
            log.write(json.dumps(record) + "\n")
            log.flush()
            write_checkpoint(out / CHECKPOINT, parts, {"step": str(epoch + 1)})
            bar.update(1)
            bar.set_postfix(train=f"{record['train_rmse']:.4f}", test=f"{record['test_rmse']:.4f}")
    if args.export:
        export(model, x_train, args.export, {"model": f"dense-{args.code}", "epochs": str(args.epochs),
                                             "lr": str(args.lr), "batch": str(args.batch), "split": split})


def export(model: DenseAutoencoder, x_train: torch.Tensor, path: str, metadata: dict[str, str]) -> None:
    """float16 parameters, then the code tables fitted on what that float16 model encodes."""
    tensors = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    shipped = DenseAutoencoder(code=model.code)
    shipped.load_state_dict({k: v.float() for k, v in tensors.items()})
    with torch.no_grad():
        codes = shipped.encoder(x_train)
    tensors.update(fit_priors(codes))
    save_file(tensors, path, metadata=metadata)


if __name__ == "__main__":
    main()

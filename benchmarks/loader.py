"""Cost of the data pipeline: the epoch's batches in process against a hand-written indexing
loop (the main job), and a loader's workers against the process for augmented images.

1. The main job (peaks, its network): seconds per epoch of ``resode.training.loop.train``
   (its history's epoch times) with its batches from :class:`~resode.data.loader.EpochBatches`
   in process, against the same optimizer steps and validation driven by a bare
   ``randperm`` + index loop written here (the baseline).
2. Batches only (no step), CIFAR-sized images (3×32×32, batch 128) with ``augment``: batches
   per second in process against a DataLoader with 1 and 2 workers.

    python benchmarks/loader.py [--epochs 3 --repeats 2 --images 20000]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from resode.data import load_dataset
from resode.data.loader import EpochBatches
from resode.tasks import get_task
from resode.training.config import TrainConfig
from resode.training.evaluation import evaluate
from resode.training.factory import build_model, make_optimizer, model_info
from resode.training.loop import train
from resode.training.regularizers import regularization


def _library_epoch(config: TrainConfig, epochs: int) -> float:
    with tempfile.TemporaryDirectory() as out:
        metrics = train(config, out, progress=False)
        return sum(r["seconds"] for r in metrics["history"]) / epochs


def _bare_epoch(config: TrainConfig, epochs: int) -> float:
    """The same training steps from a hand-written loop: randperm, index, step; and the
    validation metrics after each epoch, as the library's epoch computes them."""
    torch.manual_seed(config.seed)
    data = load_dataset(config.data, seed=config.seed)
    model = build_model(config, model_info(data))
    optimizer, scheduler = make_optimizer(config, model)
    task, generator = get_task(data.task), torch.Generator().manual_seed(config.seed)
    started = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(data.x_train), generator=generator)
        for begin in range(0, len(order), config.batch_size):
            index = order[begin : begin + config.batch_size]
            loss = task.loss(model(data.x_train[index]), data.y_train[index])
            loss = loss + regularization(model, config.smoothness, config.weight_decay)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        scheduler.step()
        evaluate(model, data, "val")
    return (time.perf_counter() - started) / epochs


def _batches_per_second(x, y, workers: int, batches: int) -> float:
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    made = EpochBatches(x, y, order[: batches * 128], 128, lambda i: i, torch.device("cpu"),
                        0, 1, True, workers)  # fmt: skip
    started = time.perf_counter()
    count = sum(1 for _ in made)
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--images", type=int, default=20000)
    args = parser.parse_args()
    config = TrainConfig(epochs=args.epochs, device="cpu")  # the main job, shorter
    library, bare = float("inf"), float("inf")
    for _ in range(args.repeats):  # interleaved; the best of the repeats counts
        bare = min(bare, _bare_epoch(config, args.epochs))
        library = min(library, _library_epoch(config, args.epochs))
    print(f"main job ({config.data}, batch {config.batch_size}), seconds per epoch:")
    print(f"  hand-written index loop {bare:7.3f} s")
    print(f"  resode train            {library:7.3f} s   ratio {library / bare:.3f}")
    print("  (both evaluate the validation split each epoch; resode also writes a checkpoint)")

    x = torch.randn(args.images, 3, 32, 32)
    y = torch.randint(0, 10, (args.images,))
    batches = args.images // 128
    print(f"augmented 3×32×32 batches of 128 ({batches} per pass), batches per second:")
    inline = max(_batches_per_second(x, y, 0, batches) for _ in range(args.repeats))
    print(f"  in process   {inline:8.1f}")
    for workers in (1, 2):
        rate = max(_batches_per_second(x, y, workers, batches) for _ in range(args.repeats))
        label = f"{workers} worker" + ("s" if workers > 1 else " ")
        print(f"  {label}    {rate:8.1f}   ratio {rate / inline:.2f}")


if __name__ == "__main__":
    main()

"""``robustness`` — what stability buys: accuracy under attack and a certificate.

The same digits network (8×8 images, pixels in [0, 1], two convolutional units of 16 and
32 channels, 40 epochs) is trained with six right-hand sides and integrators: the standard
ResNet (RK4), antisymmetric (RK4), Hamiltonian (Verlet), parabolic (RK4), the non-expansive
parabolic network (forward Euler with h c s‖K‖² ≤ 2 per weight set, capped opening,
connectors and head: L-Lipschitz by construction, ``lipschitz``; N = 16 steps of h = 0.5
where the others take N = 4: its steps are small by construction, so it needs more of them)
and a plain network without skip connections. Each is then attacked on the test split with
PGD in L2 at three radii (pixels, the images' own units) and certified from its Lipschitz
bound, margin / (√2 L) ≥ ε; the empirical constant, the largest ‖f(x + δ) − f(x)‖ / ‖δ‖
found, stands beside the bound.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from ..plots import save_figure
from ..runs.robustness import robustness_of_run
from ..storage import write_json
from ..training.config import TrainConfig
from ..training.loop import train

NETWORKS = (
    ("standard", dict(dynamics="standard", integrator="rk4")),
    ("antisymmetric", dict(dynamics="antisymmetric", integrator="rk4")),
    ("hamiltonian", dict(dynamics="hamiltonian", integrator="verlet")),
    ("parabolic", dict(dynamics="parabolic", integrator="rk4")),
    (
        "non-expansive",
        dict(dynamics="parabolic", integrator="euler", lipschitz=16.0, steps=16, T=8.0),
    ),
    ("plain", dict(network="plain", dynamics="standard")),
)
RADII = (0.0, 0.1, 0.25, 0.5)
"""L2 radii in pixel units (a digit's ‖x‖₂ is about 4)."""


def run(out: Path, quick: bool = False, seed: int = 0) -> dict:
    result = {"data": "digits", "norm": "l2", "eps": list(RADII), "networks": {}}
    for name, options in NETWORKS:
        settings = dict(data="digits", widths=[16, 32], steps=4, T=2.0, epochs=40) | options
        if quick:
            settings |= dict(widths=[4, 8], epochs=3)
        if options.get("network") == "plain":  # one weight set per layer, no step size
            del settings["T"]
        config = TrainConfig(**settings, batch_size=64, seed=seed, device="cpu")
        run_dir = out / f"robustness-{name}"
        metrics = train(config, run_dir, progress=False, force=True)
        attacks = ("pgd:5",) if quick else ("pgd",)
        samples = 60 if quick else None
        report = robustness_of_run(run_dir, eps=list(RADII), attacks=attacks, samples=samples)
        lipschitz = report["lipschitz"]
        result["networks"][name] = {
            "settings": options,
            "test_accuracy": metrics["test_accuracy"],
            "pgd_accuracy": report["attacks"][0]["accuracy"],
            "certified_accuracy": report["certified_accuracy"],
            "lipschitz_upper_bound": lipschitz["upper_bound"],
            "lipschitz_lower_bound": lipschitz["lower_bound"],
            "examples": report["examples"],
        }
    _plot(result, out / "robustness.png")
    write_json(out / "robustness.json", result)
    return result


def _plot(result: dict, file: Path) -> None:
    figure, (attacked, certified) = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for index, (name, numbers) in enumerate(result["networks"].items()):
        color = f"C{index}"
        attacked.plot(result["eps"], numbers["pgd_accuracy"], "o-", color=color, label=name)
        if numbers["certified_accuracy"] is not None:
            certified.plot(
                result["eps"], numbers["certified_accuracy"], "o-", color=color, label=name
            )
    attacked.set_title("accuracy under PGD (L2)", fontsize=10)
    certified.set_title("certified accuracy: margin / (√2 L) ≥ ε", fontsize=10)
    for axes in (attacked, certified):
        axes.set_xlabel("radius ε (L2, pixels in [0, 1])")
        axes.set_ylim(-0.02, 1.02)
        axes.legend(fontsize=8)
    attacked.set_ylabel("test accuracy")
    figure.suptitle("digits: what stability buys", fontsize=11)
    save_figure(figure, file)

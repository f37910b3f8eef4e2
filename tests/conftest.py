import os
from functools import cache

import pytest
import torch

REQUIRE_VISION = "RESODE_REQUIRE_VISION"
"""Set to 1 (``make test-vision``) to fail, not skip, tests marked ``vision`` when torchvision
does not import."""


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


@cache
def _torchvision_problem() -> str | None:
    """Why ``torchvision.datasets`` cannot be imported here, or None."""
    try:
        import torchvision.datasets  # noqa: F401
    except Exception as error:  # a missing package, or one built for another torch
        return f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error) else ''}"
    return None


def pytest_runtest_setup(item):
    """Tests marked ``vision`` need torchvision: skipped, saying why, where it does not import;
    failed instead when ``RESODE_REQUIRE_VISION=1``, so they cannot pass by being skipped."""
    if item.get_closest_marker("vision") is None:
        return
    problem = _torchvision_problem()
    if problem is None:
        return
    if os.environ.get(REQUIRE_VISION) == "1":
        pytest.fail(f"{REQUIRE_VISION}=1 but torchvision does not import: {problem}")
    pytest.skip(f"needs torchvision (pip install 'resode[vision]'; make test-vision): {problem}")


def interrupted_and_resumed(args: list[str], out, monkeypatch) -> None:
    """``resode train ARGS --out OUT`` killed right after epoch 1's checkpoint, then resumed."""
    import resode.training.run_state as module
    from resode.cli import main

    original = module.save_checkpoint

    def save_then_stop(*given, **options):  # the process dies right after the checkpoint
        original(*given, **options)
        raise KeyboardInterrupt

    monkeypatch.setattr(module, "save_checkpoint", save_then_stop)
    assert main(["train", *args, "--out", str(out)]) == 130
    monkeypatch.undo()
    assert main(["train", "--resume", str(out), "--quiet"]) == 0

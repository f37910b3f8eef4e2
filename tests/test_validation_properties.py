"""Property-based input validation: random malformed inputs and configs give either a clean
result or a ResodeError with a one-line message, never a crash from deep inside torch."""

import math

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resode import ODEBlock, ResNet, ResodeError, integrate
from resode.training.config import TrainConfig

FIELDS = [
    "data",
    "dynamics",
    "integrator",
    "activation",
    "width",
    "T",
    "steps",
    "grid",
    "interp",
    "gamma",
    "epochs",
    "batch_size",
    "lr",
    "optimizer",
    "momentum",
    "schedule",
    "smoothness",
    "weight_decay",
    "seed",
    "device",
    "dtype",
]
ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-5, max_value=50),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(
        [
            "peaks",
            "rk4",
            "tanh",
            "linear",
            "adam",
            "cosine",
            "cpu",
            "float64",
            "standard",
            "euler",
            "antisymmetric",
        ]
    ),
    st.lists(st.integers(), max_size=2),
)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _clean(error: ResodeError) -> None:
    message = str(error)
    assert message and "\n" not in message


@SETTINGS
@given(st.dictionaries(st.sampled_from(FIELDS + ["bogus", "lr_"]), ANY_VALUE, max_size=6))
def test_train_config_from_random_dicts(fields):
    try:
        config = TrainConfig.from_dict(fields)
    except ResodeError as error:
        _clean(error)
        return
    assert config.validate() is config
    assert TrainConfig.from_dict(config.to_dict()) == config


@SETTINGS
@given(
    width=ANY_VALUE,
    T=ANY_VALUE,
    steps=ANY_VALUE,
    dynamics=ANY_VALUE,
    integrator=ANY_VALUE,
    activation=ANY_VALUE,
    grid=ANY_VALUE,
    interp=ANY_VALUE,
    gamma=ANY_VALUE,
)
def test_block_from_random_arguments(**kwargs):
    if isinstance(kwargs["width"], int) and kwargs["width"] > 6:
        kwargs["width"] = 6  # keep the examples small
    try:
        block = ODEBlock(**kwargs)
    except ResodeError as error:
        _clean(error)
        return
    with torch.no_grad():
        y = block(torch.zeros(2, block.width))
    assert y.shape == (2, block.width)


TENSORS = st.builds(
    lambda shape, dtype, fill: torch.full(shape, fill).to(dtype),
    shape=st.lists(st.integers(min_value=0, max_value=4), min_size=0, max_size=3).map(tuple),
    dtype=st.sampled_from(
        [torch.float32, torch.float64, torch.int64, torch.bool, torch.float16, torch.complex64]
    ),
    fill=st.sampled_from([0.0, 1.5, -2.0, math.nan, math.inf, -math.inf, 1e30]),
)


@SETTINGS
@given(x=st.one_of(TENSORS, ANY_VALUE))
def test_network_forward_on_random_inputs(x):
    model = ResNet(3, 4, 2, steps=2)
    try:
        with torch.no_grad():
            out = model(x)
    except ResodeError as error:
        _clean(error)
        return
    assert out.shape == (x.shape[0], 2) and bool(torch.isfinite(out).all())


@SETTINGS
@given(y0=st.one_of(TENSORS, ANY_VALUE))
def test_block_forward_on_random_inputs(y0):
    block = ODEBlock(3, steps=2)
    try:
        with torch.no_grad():
            out = block(y0)
    except ResodeError as error:
        _clean(error)
        return
    assert out.shape == y0.shape


@SETTINGS
@given(
    T=st.one_of(ANY_VALUE, st.floats(0.1, 2.0)),
    steps=st.one_of(ANY_VALUE, st.integers(1, 3)),
    method=st.one_of(ANY_VALUE, st.sampled_from(["euler", "heun", "rk3", "rk4"])),
    y0=st.one_of(TENSORS, ANY_VALUE),
)
def test_integrate_on_random_arguments(T, steps, method, y0):
    try:
        result = integrate(lambda t, y: -y, y0, T, steps, method=method)
    except ResodeError as error:
        _clean(error)
        return
    assert result.shape == y0.shape


@SETTINGS
@given(y0=st.one_of(TENSORS, ANY_VALUE), method=st.sampled_from(["euler", "rk4"]))
def test_integrate_on_random_initial_values(y0, method):
    try:
        result = integrate(lambda t, y: -y, y0, 1.0, 2, method=method)
    except ResodeError as error:
        _clean(error)
        return
    assert result.shape == y0.shape and bool(torch.isfinite(result).all())


@SETTINGS
@given(
    integrator=st.one_of(ANY_VALUE, st.sampled_from(["euler", "heun", "rk3", "rk4"])),
    eigenvalues=st.one_of(
        ANY_VALUE,
        st.lists(
            st.complex_numbers(allow_nan=True, allow_infinity=True),
            max_size=5,
        ),
    ),
)
def test_max_stable_step_on_random_arguments(integrator, eigenvalues):
    from resode.analysis import max_stable_step

    try:
        h = max_stable_step(integrator, eigenvalues)
    except ResodeError as error:
        _clean(error)
        return
    assert h >= 0


@SETTINGS
@given(y0=st.one_of(TENSORS, ANY_VALUE))
def test_stability_analysis_on_random_states(y0):
    from resode.analysis import sensitivity, trajectory_spectra

    block = ODEBlock(3, steps=2)
    for analysis in (trajectory_spectra, sensitivity):
        try:
            analysis(block, y0)
        except ResodeError as error:
            _clean(error)

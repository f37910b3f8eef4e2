# %% [markdown]
# # 7. Stable architectures on images
#
# **The claim.** Stability by construction is not a property of toy problems. Replace the
# dense K by a convolution and the same reasoning holds: the antisymmetric form
# σ((K − Kᵀ) Y + b), where Kᵀ is the transposed convolution, has a Jacobian with purely
# imaginary eigenvalues whatever the weights are, so with an integrator whose region covers
# the imaginary axis the network is stable on every image. The usual ResNet — standard
# dynamics σ(K Y + b) with forward Euler — has no such guarantee: its Jacobian may have
# eigenvalues with Re λ > 0 and Euler's region contains no part of the imaginary axis.
#
# We train both on the 8 × 8 `digits` (1797 handwritten digits, bundled with scikit-learn)
# and let `resode.analysis` report on them.

# %%
import tempfile

import matplotlib.pyplot as plt
import numpy as np
import torch

from resode.analysis import amplification, stability_report, trajectory_spectra
from resode.analysis.diagnosis import units
from resode.runs import load_run
from resode.training import TrainConfig, train

torch.set_num_threads(1)   # the tensors here are tiny: one thread beats handing work around

# %% [markdown]
# ## Two convolutional networks
#
# Both have two ODE units of 8 and 16 channels (the second at half the resolution), 4 steps
# of h = 0.5 each (T = 2), trained for 5 epochs with the same settings. Only the dynamics and
# the integrator differ.

# %%
networks = {
    "antisymmetric + rk4": dict(dynamics="antisymmetric", integrator="rk4"),
    "standard + euler": dict(dynamics="standard", integrator="euler"),
}
workspace = tempfile.TemporaryDirectory()   # run directories; removed when the notebook ends
models = {}
for index, (name, settings) in enumerate(networks.items()):
    run_dir = f"{workspace.name}/digits-{index}"
    config = TrainConfig(data="digits", widths=[8, 16], steps=4, T=2.0, epochs=5, lr=0.02,
                         device="cpu", **settings)
    metrics = train(config, run_dir, progress=False)
    models[name] = load_run(run_dir)
    print(f"{name}: test accuracy {metrics['test_accuracy']:.3f}")

model, dataset = models["antisymmetric + rk4"]
with torch.no_grad():
    predicted = model(dataset.x_test[:10]).argmax(dim=1)
figure, axes = plt.subplots(1, 10, figsize=(12, 1.8))
for ax, image, label, guess in zip(axes, dataset.x_test[:10], dataset.y_test[:10], predicted):
    ax.imshow(image[0], cmap="gray_r")
    ax.set_title(f"{int(guess)}" + ("" if guess == label else f" (is {int(label)})"),
                 color="k" if guess == label else "C3", fontsize=10)
    ax.axis("off")
figure.suptitle("antisymmetric + rk4: predictions on test digits", y=1.05)
plt.show()

# %% [markdown]
# ## The stability report, unit by unit
#
# `stability_report(unit, y)` computes, for the states y that reach a unit, the eigenvalues
# of J at every step (an image unit's Jacobian has channels × pixels rows: 512 and 256
# here, so we analyse one test image), checks h·λ against the integrator's region, measures
# the step map of the actual scheme and the sensitivity ‖∂Y_N/∂Y_0‖₂, and ends with a
# verdict and advice. (`resode stability RUN` prints the same for a run directory.)

# %%
reports, spectra = {}, {}
for name, (model, dataset) in models.items():
    with torch.no_grad():
        y = model.open(dataset.x_test[:1])
    reports[name], spectra[name] = [], []
    for index, unit in enumerate(units(model)):
        unit_spectra = trajectory_spectra(unit, y)
        reports[name].append(stability_report(unit, y, unit_spectra))
        spectra[name].append(unit_spectra)
        with torch.no_grad():
            if index + 1 < len(units(model)):
                y = model.connectors[index](unit(y))

for name, unit_reports in reports.items():
    print(name)
    for index, r in enumerate(unit_reports):
        print(f"  unit {index}: max Re λ {max(r['per_step']['max_real']):+.2e}, "
              f"classes {sorted(set(r['per_step']['class']))}, "
              f"max |R(hλ)| {max(r['per_step']['amplification']):.3f}, "
              f"‖∂Y_N/∂Y_0‖₂ max {r['sensitivity']['singular_value_max']:.2f}")
        print(f"          verdict: {r['verdict']}")

# %%
re, im = np.meshgrid(np.linspace(-3.5, 1.5, 401), np.linspace(-3.2, 3.2, 401))
figure, axes = plt.subplots(1, 2, figsize=(12, 5.2))
for ax, (name, unit_spectra) in zip(axes, spectra.items()):
    integrator = networks[name]["integrator"]
    modulus = amplification(integrator, re + 1j * im)
    ax.contourf(re, im, modulus, levels=[0, 1], colors=["#cfe3f7"])
    ax.contour(re, im, modulus, levels=[1.0], colors=["#3a6ea5"])
    for index, s in enumerate(unit_spectra):
        hz = (s.h * s.eigenvalues).flatten().numpy()
        ax.scatter(hz.real, hz.imag, s=6, alpha=0.6, label=f"unit {index}", color=f"C{index + 1}")
    ax.axhline(0, color="0.6", lw=0.5)
    ax.axvline(0, color="0.6", lw=0.5)
    ax.set_xlim(-3.5, 1.5)
    ax.set_aspect("equal")
    ax.set_title(f"{name}: h·λ over the {integrator} region (shaded)", fontsize=10)
    ax.set_xlabel("Re hλ")
    ax.legend(loc="lower left", fontsize=8, markerscale=4)
axes[0].set_ylabel("Im hλ")
plt.show()

# %% [markdown]
# **Result.** The antisymmetric convolutional network's eigenvalues lie on the imaginary axis
# in both units, and at h = 0.5 every h·λ is inside RK4's region: the eigenvalue test passes,
# with the largest stable step printed, and the verdict weighs it against the measured growth
# ‖∂Y_N/∂Y_0‖₂ and the Lyapunov exponents. The standard Euler network has eigenvalues with Re λ > 0
# — its ODE is unstable, and forward Euler amplifies more than the ODE — and it amplifies
# perturbations of its input more. Both classify digits after a few epochs; the stable one
# does so with a guarantee that holds for every input, not only for the training data.
# `resode train --data digits` (the recipe: 40 epochs, widths 16, 32) trains the
# antisymmetric network to the accuracy in the benchmark table.

# %% [markdown]
# # 3. Stability of the discretization: regions of the integrators
#
# **The claim.** A stable ODE is not enough: the network is its discretization, and the
# discrete steps have a stability of their own. On the linear test equation y′ = λy, one step
# of a Runge–Kutta method multiplies y by a number R(hλ):
#
#     y_{l+1} = R(z) y_l,   z = hλ,   R(z) = 1 + z bᵀ(I − zA)⁻¹𝟙   for a Butcher tableau (A, b).
#
# The step is stable when |R(z)| ≤ 1: z must lie in the integrator's **stability region**.
# For forward Euler R(z) = 1 + z, and the region is the disk |1 + z| ≤ 1. For a network, λ
# are the eigenvalues of the Jacobian J along the data (notebook 2), so the question is
# whether every h·λ of the trained network lies in the region of its integrator.

# %%
import tempfile

import matplotlib.pyplot as plt
import numpy as np
import torch

import resode
from resode.analysis import advice_for, amplification, max_stable_step, trajectory_spectra
from resode.runs import load_run
from resode.training import TrainConfig, train

torch.manual_seed(0)
torch.set_num_threads(1)   # the tensors here are tiny: one thread beats handing work around

# %% [markdown]
# ## The linear test equation
#
# λ = −1: the exact solution exp(−t) decays for every step size. Forward Euler's factor is
# R(hλ) = 1 − h, so it decays for h < 2 and grows for h > 2.

# %%
lam = -1.0
figure, ax = plt.subplots(figsize=(7, 4))
t_fine = np.linspace(0, 20, 200)
ax.semilogy(t_fine, np.exp(lam * t_fine), "k-", label="exact exp(λt)")
for h in (0.5, 1.5, 2.5):
    steps = int(round(20 / h))
    path = resode.integrate(lambda t, y: lam * y, torch.ones(1, dtype=torch.float64),
                            T=steps * h, steps=steps, method="euler", return_trajectory=True)
    factor = float(amplification("euler", h * lam))
    ax.semilogy(h * np.arange(steps + 1), path[:, 0].abs().numpy(), "o-", ms=3,
                label=f"Euler, h = {h}: |R(hλ)| = {factor:g}")
    print(f"h = {h}: |R(hλ)| = {factor:g}, |y| after {steps} steps = {float(path[-1].abs()):.3g}")
ax.set_xlabel("t")
ax.set_ylabel("|y|")
ax.set_title("y′ = −y with forward Euler")
ax.legend(fontsize=8)
plt.show()
print("largest stable h of Euler for λ = −1:", max_stable_step("euler", [lam]))

# %% [markdown]
# ## The regions
#
# For the explicit Runge–Kutta methods the region is where |R(z)| ≤ 1. The two-step leapfrog
# Y_{l+1} = Y_{l−1} + 2h f(Y_l) and Störmer–Verlet (for split, Hamiltonian dynamics) have no
# single R(z); their roots have modulus one exactly on a segment of the imaginary axis
# (|z| < 1 and |z| < 2), and nowhere else — they suit dynamics whose eigenvalues are purely
# imaginary.

# %%
re, im = np.meshgrid(np.linspace(-3.5, 1.0, 451), np.linspace(-3.5, 3.5, 701))
z = re + 1j * im
colours = {"euler": "C0", "heun": "C1", "rk3": "C2", "rk4": "C3"}
figure, ax = plt.subplots(figsize=(9, 6.5))
for name, colour in colours.items():
    ax.contour(re, im, amplification(name, z), levels=[1.0], colors=colour, linewidths=2)
    ax.plot([], [], color=colour, lw=2, label=f"{name} (order {resode.get_integrator(name).order})")
for name, colour, offset in (("leapfrog", "C4", 0.08), ("verlet", "C5", 0.16)):
    radius = resode.get_integrator(name).stability_radius
    ax.plot([offset, offset], [-radius, radius], color=colour, lw=4, alpha=0.7,
            label=f"{name}: |z| < {radius:g} on the imaginary axis")
ax.axhline(0, color="0.6", lw=0.6)
ax.axvline(0, color="0.6", lw=0.6)
ax.set_aspect("equal")
ax.set_xlabel("Re z")
ax.set_ylabel("Im z")
ax.set_title("Stability regions: |R(z)| ≤ 1 inside each curve")
ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=9)
plt.show()

print(f"{'integrator':>10} {'largest h, λ = −1':>18} {'largest h, λ = i':>17}")
for name in ("euler", "heun", "rk3", "rk4", "leapfrog", "verlet"):
    real = max_stable_step(name, [-1.0]) if name != "verlet" else float("nan")
    print(f"{name:>10} {real:18.4f} {max_stable_step(name, [1j]):17.4f}")

# %% [markdown]
# Euler and Heun contain no part of the imaginary axis (largest h = 0 for λ = i), RK3 reaches
# √3 and RK4 2√2 on it; the leapfrog has no stable step at all for real negative λ.
# (Verlet applies to split dynamics only, so no real-λ entry.)
#
# ## h·λ of a trained network
#
# Now a network trained on the 5-class `peaks` data: the main job's pairing, antisymmetric
# dynamics with RK4 (width 16, T = 4, N = 8, h = 0.5), for 8 epochs only. We compute the
# eigenvalues of J at every step for 256 test inputs and place h·λ over the regions of RK4
# and of Euler.

# %%
workspace = tempfile.TemporaryDirectory()   # run directories; removed when the notebook ends
run_dir = f"{workspace.name}/peaks"
config = TrainConfig(data="peaks", dynamics="antisymmetric", integrator="rk4", width=16,
                     T=4.0, steps=8, epochs=8, device="cpu")
metrics = train(config, run_dir, progress=False)
model, dataset = load_run(run_dir)
print(f"test accuracy after {config.epochs} epochs: {metrics['test_accuracy']:.3f}")

with torch.no_grad():
    y0 = model.open(dataset.x_test[:256])
spectra = trajectory_spectra(model.block, y0)
hz = (spectra.h * spectra.eigenvalues).flatten().numpy()

figure, axes = plt.subplots(1, 2, figsize=(12, 5.5))
for ax, name in zip(axes, ("rk4", "euler")):
    ax.contourf(re, im, amplification(name, z), levels=[0, 1], colors=["#cfe3f7"])
    ax.contour(re, im, amplification(name, z), levels=[1.0], colors=["#3a6ea5"])
    inside = amplification(name, hz) <= 1 + 1e-9
    ax.scatter(hz.real[inside], hz.imag[inside], s=4, c="C2", label="inside")
    ax.scatter(hz.real[~inside], hz.imag[~inside], s=4, c="C3", label="outside")
    ax.set_title(f"h·λ over the {name} region: {inside.mean():.1%} inside")
    ax.set_aspect("equal")
    ax.set_xlabel("Re hλ")
    ax.legend(loc="upper left", fontsize=8)
axes[0].set_ylabel("Im hλ")
plt.show()

verdict, advice = advice_for(spectra, "rk4", model.block.dynamics)
print("max |Re λ| over all steps and inputs:", f"{float(spectra.eigenvalues.real.abs().max()):.1e}")
print("verdict:", verdict)
for name, h in advice["max_stable_step"].items():
    needed = advice["steps_needed"][name] or "none: no step size is stable"
    print(f"  largest stable h with {name:>8}: {h:.4f}   steps needed for T = 4: {needed}")

# %% [markdown]
# **Result.** The antisymmetric network's eigenvalues lie on the imaginary axis (max |Re λ|
# is rounding), so h·λ sits on the axis, inside RK4's region at h = 0.5 and outside Euler's:
# forward Euler and Heun would be unstable at *every* step size for this network (their
# largest stable step is 0), RK3 and RK4 are stable up to the printed h. Changing the
# dynamics fixed the ODE; the discretization has to be chosen to match it. Notebook 5 shows
# what happens when it is not.

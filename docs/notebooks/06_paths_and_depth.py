# %% [markdown]
# # 6. The network as path planning, and what a layer is
#
# **The claims.**
#
# 1. *Path planning.* A residual network moves every input along a path Y(t), t ∈ [0, T];
#    training chooses the dynamics θ(t) so that at t = T the classes can be separated by the
#    linear head W Y_N + c. Learning is an optimal control problem: steer the data to where a
#    line separates it.
# 2. *What is a layer?* If θ(t) is a function of time, a layer is a time step: N is a
#    resolution, not a property of the trained model. A network whose discretization is
#    stable converges to its ODE, so it can be run at other depths after training
#    (`model.steps = …`); a network that learned an unstable discretization cannot.

# %%
import tempfile

import matplotlib.pyplot as plt
import numpy as np
import torch

from resode.experiments.paths import linear_separability
from resode.runs import evaluate_run, load_run
from resode.training import TrainConfig, train

torch.set_num_threads(1)   # the tensors here are tiny: one thread beats handing work around

# %% [markdown]
# ## A width-2 network on two spirals
#
# With width 2 the state is a point in the plane, so we can watch the paths. Antisymmetric
# dynamics with RK4, T = 5, N = 10, trained for 20 epochs on the `spirals` data.

# %%
workspace = tempfile.TemporaryDirectory()   # run directories; removed when the notebook ends
spiral_run = f"{workspace.name}/spirals"
config = TrainConfig(data="spirals", width=2, T=5.0, steps=10, dynamics="antisymmetric",
                     integrator="rk4", epochs=20, lr=0.02, device="cpu")
metrics = train(config, spiral_run, progress=False)
model, dataset = load_run(spiral_run)
print(f"test accuracy: {metrics['test_accuracy']:.3f}")

with torch.no_grad():
    paths = {split: model.block.trajectory(model.open(dataset.split(split)[0])).numpy()
             for split in ("train", "test")}
labels = {split: dataset.split(split)[1].numpy() for split in ("train", "test")}
separable = {name: linear_separability(paths["train"][index], labels["train"],
                                       paths["test"][index], labels["test"])
             for name, index in (("Y_0", 0), ("Y_N", -1))}
for name, accuracy in separable.items():
    print(f"a logistic regression on {name} alone: test accuracy {accuracy:.3f}")

# %%
path, y = paths["test"], labels["test"]
colours = np.array(["C0", "C3"])[y]
shown = np.arange(min(len(y), 200))
figure, axes = plt.subplots(1, 3, figsize=(15, 4.6))
axes[0].scatter(path[0, :, 0], path[0, :, 1], c=colours, s=5)
axes[0].set_title(f"start Y_0 = σ(K_0 x + b_0): a line separates {separable['Y_0']:.0%}")
for k in shown:
    axes[1].plot(path[:, k, 0], path[:, k, 1], color=colours[k], lw=0.5, alpha=0.6)
axes[1].set_title(f"paths Y_0 → Y_N of {len(shown)} test points, N = {model.steps}")
axes[2].scatter(path[-1, :, 0], path[-1, :, 1], c=colours, s=5)
weight, bias = model.head.weight.detach().numpy(), model.head.bias.detach().numpy()
normal, offset = weight[1] - weight[0], bias[1] - bias[0]     # the head's decision line
xs = np.linspace(path[-1, :, 0].min(), path[-1, :, 0].max(), 50)
axes[2].plot(xs, -(normal[0] * xs + offset) / normal[1], "k--", label="W Y_N + c = 0")
axes[2].set_ylim(path[-1, :, 1].min() - 0.2, path[-1, :, 1].max() + 0.2)
axes[2].set_title(f"end Y_N and the head's line: a line separates {separable['Y_N']:.0%}")
axes[2].legend(fontsize=8)
for ax in axes:
    ax.set_xlabel("Y₁")
    ax.set_ylabel("Y₂")
figure.tight_layout()
plt.show()

# %% [markdown]
# The network unwinds the spirals: at the start a line separates the classes no better than
# chance would suggest, at the end one line does almost all of the work. (In two dimensions a
# continuous flow cannot tear the plane, so it can only separate what the opening layer has
# folded apart — here that is enough.)
#
# ## θ(t): a layer is a time interval
#
# The trained weights are one tensor over time: K(t) and b(t) on 10 intervals of [0, 5].
# Running the network with N′ steps samples the same θ(t) at other times.

# %%
K = model.block.dynamics.weight.values.detach().numpy()        # (10, 2, 2)
edges = np.linspace(0, config.T, K.shape[0] + 1)
figure, ax = plt.subplots(figsize=(8, 3.5))
for i in range(2):
    for j in range(2):
        ax.stairs(K[:, i, j], edges, lw=2, label=f"K_{i + 1}{j + 1}(t)")
for n, style in ((10, "-"), (40, ":")):
    for t in np.linspace(0, config.T, n + 1):
        ax.axvline(t, color="0.7", lw=0.6, ls=style)
ax.set_xlabel("t")
ax.set_title("trained K(t) (before K − Kᵀ); grey: step times for N = 10 (solid) and 40 (dotted)")
ax.legend(fontsize=8, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.18))
plt.show()

# %% [markdown]
# The diagonal entries do not enter K − Kᵀ, so they receive no gradient and keep their
# initial values; the off-diagonal ones are what the network learned, one value per interval.
# Now the same θ(t) at other depths:

# %%
depths = [2, 5, 10, 20, 40, 80]
results = evaluate_run(spiral_run, steps=depths)
print("spirals, trained at N = 10; test accuracy at N′ =",
      ", ".join(f"{r['steps']}: {r['test_accuracy']:.3f}" for r in results))

# %% [markdown]
# ## Changing the depth after training: stable against unstable
#
# Two networks on the 5-class `peaks` data, 5 epochs each: antisymmetric + RK4 at N = 8
# (T = 4, h = 0.5: inside RK4's region, notebook 3), and the plain ResNet — standard
# dynamics with forward Euler — at N = 4 with T = 8, i.e. h = 2, a step far outside Euler's
# region for most of its eigenvalues. Both are then evaluated at N′ = 2 … 128 with the same
# weights.

# %%
pairs = {
    "antisymmetric + rk4, N = 8, h = 0.5": dict(dynamics="antisymmetric", integrator="rk4",
                                                T=4.0, steps=8),
    "standard + euler, N = 4, h = 2": dict(dynamics="standard", integrator="euler",
                                           T=8.0, steps=4),
}
depths = [2, 4, 8, 16, 32, 64, 128]
transfer = {}
for index, (name, settings) in enumerate(pairs.items()):
    run_dir = f"{workspace.name}/peaks-{index}"
    train(TrainConfig(data="peaks", epochs=5, batch_size=128, lr=0.02, device="cpu",
                      **settings), run_dir, progress=False)
    transfer[name] = [r["test_accuracy"] for r in evaluate_run(run_dir, steps=depths)]

figure, ax = plt.subplots(figsize=(7, 4))
for name, accuracy in transfer.items():
    ax.semilogx(depths, accuracy, "o-", base=2, label=name)
ax.set_xlabel("steps N′ at evaluation (same θ(t))")
ax.set_ylabel("test accuracy")
ax.set_title("peaks: the trained weights at other depths")
ax.legend(fontsize=8)
plt.show()
for name, accuracy in transfer.items():
    print(f"{name}: " + ", ".join(f"N′={n}: {a:.3f}" for n, a in zip(depths, accuracy)))

# %% [markdown]
# **Result.** The width-2 network solves the classification by transport: the classes that
# no line separates at t = 0 are separable at t = T. Its depth is a resolution: beyond the
# training depth the stable network keeps its accuracy, because more steps only integrate
# the same ODE more accurately. Below it (N′ = 2, 4) the steps are too coarse — h·λ leaves
# the region — and accuracy drops. The Euler network trained at h = 2 has learned its
# discretization, not an ODE: at any other depth it is a different function, and its
# accuracy collapses. Depth is "what is a layer" made measurable.

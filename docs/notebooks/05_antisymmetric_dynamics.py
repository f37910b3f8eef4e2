# %% [markdown]
# # 05_antisymmetric_dynamics

# %%
print(1)

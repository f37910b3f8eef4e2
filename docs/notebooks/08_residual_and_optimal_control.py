# %% [markdown]
# # 08_residual_and_optimal_control

# %%
print(1)

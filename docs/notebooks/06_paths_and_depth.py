# %% [markdown]
# # 06_paths_and_depth

# %%
print(1)

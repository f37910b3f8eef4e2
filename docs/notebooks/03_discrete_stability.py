# %% [markdown]
# # 03_discrete_stability

# %%
print(1)

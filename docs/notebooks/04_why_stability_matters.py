# %% [markdown]
# # 04_why_stability_matters

# %%
print(1)

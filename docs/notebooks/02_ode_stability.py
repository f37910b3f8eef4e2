# %% [markdown]
# # 02_ode_stability

# %%
print(1)

# %% [markdown]
# # 07_stable_architectures_on_images

# %%
print(1)

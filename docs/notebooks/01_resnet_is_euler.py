# %% [markdown]
# # 01_resnet_is_euler

# %%
print(1)

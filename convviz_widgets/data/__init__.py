"""Files shipped with the package: the default model, label lists."""

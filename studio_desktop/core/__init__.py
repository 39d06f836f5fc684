"""Qt-free core: configuration, data and backbones. Heavy ML imports stay inside functions."""

"""Ten short question/answer pairs a tiny model can learn; used by training, chat and export tests."""

FACTS = [
    ("What colour is the sky?", "The sky is blue."),
    ("What do cows drink?", "Cows drink water."),
    ("Who trains the model?", "Studio Desktop trains the model."),
    ("What is the rank?", "The rank is eight."),
    ("Where is the data?", "The data is in the working directory."),
    ("What does export make?", "Export makes a merged folder."),
    ("Which tab shows curves?", "The Experiments tab shows curves."),
    ("What runs offline?", "Everything runs offline."),
    ("How many epochs?", "Two epochs are enough."),
    ("What is LoRA?", "LoRA trains small adapters."),
]

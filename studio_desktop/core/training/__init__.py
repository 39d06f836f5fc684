"""Training on top of transformers' Trainer: config mapping, optimizer and schedule, events."""

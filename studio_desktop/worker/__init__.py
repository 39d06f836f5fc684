"""Code that runs in child processes (training, chat). Qt-free."""

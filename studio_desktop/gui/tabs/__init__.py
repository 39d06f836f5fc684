"""The main window's tabs: Home, Datasets, Experiments, Chat."""

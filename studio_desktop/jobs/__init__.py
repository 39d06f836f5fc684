"""Qt-free store shared by the GUI, the CLI and worker processes: workdir, catalogue, imports."""

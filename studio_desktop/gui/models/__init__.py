"""Qt item models over pandas frames and catalogue rows."""

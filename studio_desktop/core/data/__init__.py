"""Dataset reading, conversation model, format detection, splitting, templates and statistics."""

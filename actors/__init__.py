"""The actor: the progressive graph-based speech generator and its vocoder."""

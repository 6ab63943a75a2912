"""Corpora: the synthetic audiovisual emotional corpus, and readers for real footage."""

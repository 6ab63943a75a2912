"""Batch localisation: whole films (or many clips) dubbed as one resumable job on Ray."""

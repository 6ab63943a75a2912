"""Quality measures (DESIGN section 6): WER, SECS, MCD-DTW-SL, audio-visual sync, duration error.

Import the submodules (``evaluation.wer``, ``perception.speaker.secs``, ``evaluation.mcd``, ``perception.sync``,
``evaluation.text_norm``); nothing heavy is imported here and models load on first use.
"""

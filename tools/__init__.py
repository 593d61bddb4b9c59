"""Repository tools that are not synth code (ARCHITECTURE §9): run as ``python -m tools.<tool>`` from the repo root."""

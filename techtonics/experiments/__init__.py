"""Whole runs as users make them: generate, convert and train (stages), the main job behind `make demo`
(demo), and the original's experiments behind `make reproduce` (reproduction, figures)."""

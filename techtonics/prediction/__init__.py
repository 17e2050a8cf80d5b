"""Applying exported models to new data: the models in one pass (predictor), the three inputs (inputs,
continuous), and what is written (outputs, figures). The command is techtonics/predict.py."""

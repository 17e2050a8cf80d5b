"""Applying exported models to new data: the models in one pass (predictor), the inputs (inputs,
continuous), what is written (outputs, figures, catalog), and prediction across machines (sharding,
merge). The command is techtonics/predict.py."""

"""The model: the spectrogram image layer, the CNN, and its export."""

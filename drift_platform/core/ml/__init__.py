"""The models: training, the walk-forward quality baseline and the champion/challenger comparison
(`training.py`), and the versioned model registry in an object store (`model_registry.py`)."""

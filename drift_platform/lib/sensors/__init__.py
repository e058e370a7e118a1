"""A monitor's sensors: the retrain sensor (`retrain.py`, with the alert ledger), the landing sensor
(`landing.py`) and the drift trend's sensor (`trend.py`)."""

"""What train.py, test.py and the scripts run on top of the models and the data: loading a
model for inference, editing images and test splits of any size, train-time FID."""

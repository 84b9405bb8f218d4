"""Backends: one small interface per concern, each with a local and an Azure ML implementation.

- `compute` — run a training job (`local_compute`, `azureml_compute`).
- `endpoint` — an online endpoint with named deployments, traffic, mirroring and request
  metrics (`local_endpoint`, `azureml_endpoint`).

Importing this package imports nothing heavy; implementations import their SDKs lazily.
"""

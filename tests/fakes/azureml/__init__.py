"""The fake Azure ML service, one module per host or service; import it from
``tests.fakes.azureml_rest``."""

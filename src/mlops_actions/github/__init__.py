"""GitHub glue: the Actions runtime (outputs, summary, annotations) and, later, the REST API."""

"""Monitoring's engine: where production data is read (`sources`, `prediction_log`,
`collected_data`) and how drift is measured (`drift_stats`, `drift_methods`)."""

"""GitHub glue: the Actions runtime (`runtime`: outputs, job summary, annotations, masking), sticky
PR comments and commit statuses (`pr_comment`), and the retraining trigger with its tracking issue
(`tracking`), the last two through the REST API with PyGithub."""

"""Great Expectations behind the validate-data step: suites, engines and reports.

- `suite`: read a GX 1.x ExpectationSuite JSON with one actionable error per problem, and draft a
  starter suite from data;
- `engines`: run a suite on a pandas frame, a Spark DataFrame or a SQL table, and turn GX's result
  into `ExpectationOutcome`s in suite order;
- `report`: the Markdown summary, the JSON result and a self-contained HTML page.

Every module imports great_expectations (and pandas, pyspark, sqlalchemy) inside its functions.
"""

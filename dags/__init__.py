"""Production DAGs. A package only so import-linter can check that they never import the harness
(namespace packages made its results nondeterministic); Airflow ignores this file."""

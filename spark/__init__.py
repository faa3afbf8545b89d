"""The PySpark job(s) run on EMR. A package only so import-linter can check their imports
(namespace packages made its results nondeterministic); EMR runs the script file itself."""

"""Where AWS comes from for a run: the embedded emulator, LocalStack, or a real account.

Every backend is one small class (see `harness.backends.base.Backend`) used as a context
manager: endpoints per service, the Airflow connection that reaches them, clients, provisioning
helpers and cleanup. Backends never import Airflow.
"""

"""The daily batch under Airflow (MWAA stand-in): its own virtualenv, the DAG's runs, the
publish stage. The DAG itself is `dags/pinterest_batch.py`."""

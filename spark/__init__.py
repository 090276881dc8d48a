"""Spark jobs: the batch job (`spark.batch`) and the streaming job (`spark.streaming`).

Import modules as `from spark.<module> import ...`: Databricks notebooks name their
SparkSession `spark`, and `import spark.x` would rebind it.
"""

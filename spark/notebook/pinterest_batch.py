# Databricks notebook source
# MAGIC %md
# MAGIC # Pinterest batch: clean the landed events and answer the questions
# MAGIC
# MAGIC The same code `make batch` runs locally, as a Databricks notebook. Add this repository
# MAGIC to the workspace as a Git folder (Repos): its root is on `sys.path`, so the cells below
# MAGIC import `spark.job`, `spark.clean` and `spark.questions` (plain PySpark, nothing else).
# MAGIC
# MAGIC The S3 bucket the Kafka S3 sink writes to is mounted at `mount_point`; the job reads
# MAGIC `<mount>/topics/<user_id>.{pin,geo,user}/partition=*/*.json` and writes `cleaned/`,
# MAGIC `quarantine/`, `analytics/` and `analytics/_run.json` under the same mount.
# MAGIC
# MAGIC Note: Databricks names the SparkSession `spark`, like this project's package. Import
# MAGIC with `from spark.<module> import ...` only; `import spark.job` would rebind `spark`.

# COMMAND ----------

# ruff: noqa: F821, E402
# mypy: disable-error-code="name-defined"
# (`spark`, `dbutils` and `display` are the globals Databricks gives every notebook.)

dbutils.widgets.text("user_id", "local", "PIPELINE_USER_ID")
dbutils.widgets.text("mount_point", "/mnt/pinterest-data", "Mount point")
dbutils.widgets.text("secret_scope", "pinterest", "Secret scope with the AWS keys")
dbutils.widgets.text("full_rebuild", "false", "Rebuild from every landed object (true/false)")

USER_ID = dbutils.widgets.get("user_id")
MOUNT = dbutils.widgets.get("mount_point").rstrip("/")
SCOPE = dbutils.widgets.get("secret_scope")
FULL = dbutils.widgets.get("full_rebuild").strip().lower() in {"true", "1", "yes"}
BUCKET = f"user-{USER_ID}-bucket"
TOPICS = {table: f"{USER_ID}.{table}" for table in ("pin", "geo", "user")}

# COMMAND ----------

# MAGIC %md
# MAGIC ## Mount the bucket (once per workspace)
# MAGIC Keys come from a secret scope, never from the notebook:
# MAGIC `databricks secrets put-secret pinterest aws-access-key` and `... aws-secret-key`.
# MAGIC A cluster with an instance profile that can read the bucket needs no keys: mount
# MAGIC `s3a://<bucket>` directly.

# COMMAND ----------

from urllib.parse import quote

if not any(m.mountPoint == MOUNT for m in dbutils.fs.mounts()):
    access_key = dbutils.secrets.get(SCOPE, "aws-access-key")
    secret_key = quote(dbutils.secrets.get(SCOPE, "aws-secret-key"), safe="")
    dbutils.fs.mount(f"s3a://{access_key}:{secret_key}@{BUCKET}", MOUNT)
display(dbutils.fs.ls(f"{MOUNT}/topics"))

# COMMAND ----------

# MAGIC %md
# MAGIC ## Step by step: read, quarantine, clean
# MAGIC Explicit schemas (no `inferSchema`); lines that do not parse are set aside, not dropped.

# COMMAND ----------

from spark.clean import clean_geo, clean_pin, clean_user, split_corrupt
from spark.job import read_landed, topic_path

raw = {t: read_landed(spark, topic_path(MOUNT, TOPICS[t]), t) for t in TOPICS}
parsed = {t: split_corrupt(raw[t], t) for t in TOPICS}
df_pin = clean_pin(parsed["pin"][0])
df_geo = clean_geo(parsed["geo"][0])
df_user = clean_user(parsed["user"][0])
display(df_pin)

# COMMAND ----------

display(df_geo)

# COMMAND ----------

display(df_user)

# COMMAND ----------

# MAGIC %md
# MAGIC ## The questions
# MAGIC One function per question; each takes the cleaned DataFrames and returns one.

# COMMAND ----------

from spark import questions as q

display(q.popular_category_by_country(df_pin, df_geo))

# COMMAND ----------

display(q.popular_category_by_year(df_pin, df_geo))

# COMMAND ----------

display(q.most_followed_user_by_country(df_pin, df_geo))

# COMMAND ----------

display(q.top_country_by_most_followed_user(df_pin, df_geo))

# COMMAND ----------

display(q.popular_category_by_age_group(df_pin, df_user))

# COMMAND ----------

display(q.median_followers_by_age_group(df_pin, df_user))

# COMMAND ----------

display(q.users_joined_by_year(df_user))

# COMMAND ----------

display(q.median_followers_by_join_year(df_pin, df_user))

# COMMAND ----------

display(q.median_followers_by_join_year_and_age_group(df_pin, df_user))

# COMMAND ----------

# MAGIC %md
# MAGIC ## The whole job: write every output, as `make batch` does
# MAGIC Daily and incremental, as `make batch`: only the objects landed since the last run are
# MAGIC read (the file source with an available-now trigger and a checkpoint in
# MAGIC `checkpoints/batch/`, as Auto Loader does), merged by event key into the Delta tables
# MAGIC `cleaned/<table>/`; the answers are recomputed from those tables and written as Parquet,
# MAGIC quarantined lines as JSON, then the run summary. `full_rebuild=true` starts over.

# COMMAND ----------

from spark.job import run_job


def put_summary(text: str) -> None:
    dbutils.fs.put(f"{MOUNT}/analytics/_run.json", text, True)


summary = run_job(
    spark,
    source=MOUNT,
    target=MOUNT,
    topics=TOPICS,
    write_summary=put_summary,
    full=FULL,
)
print(summary.mode, {t: summary.cleaned_rows[t] for t in TOPICS}, summary.seconds)
display(spark.read.parquet(f"{MOUNT}/analytics/popular_category_by_country"))

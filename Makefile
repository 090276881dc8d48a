# Pinterest data pipeline, local-first. `make help` lists every target.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PY := .venv/bin/python
# One stamp per extra of pyproject.toml ([stack], [spark], [aws], [bench], [dev]): a target
# installs what it needs, so `make up` alone brings no Spark. [dev] holds every extra, so
# `make venv` (what CI runs) installs everything and marks every stamp.
PYPROJECT_HASH := $(shell sha1sum pyproject.toml | cut -c1-12)
EXTRAS := stack spark aws bench dev
stamp = $(foreach e,$(1),.venv/.installed-$(e)-$(PYPROJECT_HASH))
VENV_STAMP := $(call stamp,dev)
RUNTIME ?= auto
export RUNTIME

.PHONY: help venv up down clean status logs seed emulate stream-emulate batch stream stream-once \
        demo test test-unit test-connect lint format bench check-aws export-aws docker-images docker-engine spark-cluster airflow airflow-test

help: ## list the targets
	@awk 'BEGIN{FS=":.*## "} /^[a-zA-Z_-]+:.*## /{printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.venv/.installed-%-$(PYPROJECT_HASH): pyproject.toml
	@test -x .venv/bin/python || python3 -m venv .venv
	@mkdir -p .local/logs
	@echo "installing .[$*] into the virtualenv .venv from pyproject.toml (log: .local/logs/pip.log)"
	@.venv/bin/pip install --disable-pip-version-check -e '.[$*]' > .local/logs/pip.log 2>&1 \
	  || { tail -20 .local/logs/pip.log; echo "pip failed: see .local/logs/pip.log"; exit 1; }
	@find .venv -maxdepth 1 -name '.installed-*' ! -name '*-$(PYPROJECT_HASH)' -delete
	@touch $@ $(if $(filter dev,$*),$(call stamp,$(EXTRAS)))

venv: $(VENV_STAMP) ## create or update the project virtualenv (.venv) with every extra ([dev])

up: $(call stamp,stack) ## install what is missing, start every service, wait until all are healthy
	@$(PY) -m services.stack up

down: $(call stamp,stack) ## stop every service (data kept)
	@$(PY) -m services.stack down

clean: ## stop every service and delete the local data (downloads stay cached)
	@if [ -x $(PY) ]; then $(PY) -m services.stack clean; fi

status: $(call stamp,stack) ## one table: each service, its endpoint, up/down and a health detail
	@$(PY) -m services.stack status

logs: $(call stamp,stack) ## where each service logs
	@$(PY) -m services.stack logs

seed: up ## create and load the spoof Pinterest database in MySQL (SIZE=11153)
	@$(PY) -m seed_data load $(if $(SIZE),--size $(SIZE))

emulate: up ## replay every event through the REST proxy (ARGS="random --count 10" for other modes)
	@$(PY) -m services.emulator $(or $(ARGS),replay)

stream-emulate: up ## post events to the streaming topics as the original did, PUT /streams/<name>/record (ARGS="random --count 100", "replay")
	@$(PY) -m services.emulator $(or $(ARGS),random) --target kinesis

batch: up $(call stamp,spark) ## the Spark batch job: clean what landed since the last run, answer (FULL=1 rebuilds)
	@$(PY) -m spark.batch $(if $(FULL),--full)

stream: up $(call stamp,spark) ## run the Structured Streaming job into Delta tables until stopped
	@$(PY) -m spark.streaming run

stream-once: up $(call stamp,spark) ## process what the streaming topics hold, then stop (available-now trigger)
	@$(PY) -m spark.streaming once

demo: $(call stamp,stack spark) ## the whole flow: seed, replay, land, Spark, report; every record accounted for
	@$(PY) -m services.demo

test: $(VENV_STAMP) ## the whole test suite (unit, integration, end-to-end); starts the stack itself
	@$(MAKE) --no-print-directory test-connect
	@$(PY) -m services.stack install-test-tools
	@$(PY) -m pytest $(PYTEST_ARGS)

test-connect: ## the S3 sink connector's JUnit tests (connect/s3-sink, Maven Surefire)
	@mvn -B -q -f connect/s3-sink/pom.xml -Dmaven.repo.local=$(CURDIR)/.local/cache/m2 \
	  -Dplugin.build.dir=$(CURDIR)/.local/cache/connect/s3-sink-test test

test-unit: $(VENV_STAMP) ## only the pure unit tests: seconds, no JVM, no network, no services
	@$(PY) -m pytest tests/unit -m unit $(PYTEST_ARGS)

lint: $(VENV_STAMP) ## ruff (lint + format check), mypy, and no test without an assertion
	@.venv/bin/ruff check .
	@.venv/bin/ruff format --check .
	@.venv/bin/mypy services seed_data spark bench tests
	@$(PY) -m tests.support.check_asserts

format: $(VENV_STAMP) ## apply ruff's fixes and formatting
	@.venv/bin/ruff check --fix . ; .venv/bin/ruff format .

docker-images: $(call stamp,stack spark) ## build the docker runtime's images (from debian:bookworm-slim); print times and sizes
	@$(PY) -m services.stack docker-images

docker-engine: $(call stamp,stack) ## use Docker if it answers, else prepare podman under .local/ (Debian, root)
	@$(PY) -m services.stack install-docker-engine

spark-cluster: $(call stamp,spark) ## a standalone Spark master + worker on 127.0.0.1:7077 until Ctrl-C
	@$(PY) -m spark.cluster

airflow: up ## Airflow standalone on 127.0.0.1:8080 running dags/ (own venv, installed on first use)
	@$(PY) -m services.airflow standalone

airflow-test: up $(VENV_STAMP) ## the DAG under `airflow dags test` in a fresh namespace; its outputs checked
	@$(PY) -m pytest tests/integration/test_dag_integrity.py tests/e2e/test_airflow_dag.py -q $(PYTEST_ARGS)

# The benchmarks' extras (the rule's own line follows).
bench: $(call stamp,bench spark)
bench: up ## run the benchmarks; figures in bench/results.json
	@$(PY) -m bench

check-aws: $(call stamp,aws) ## preflight: try every AWS endpoint and print a table with fixes
	@PIPELINE_TARGET=aws $(PY) -m services.aws check

export-aws: $(call stamp,aws) ## write the AWS-side configuration into build/aws/
	@$(PY) -m services.aws export

# The project's own Python services (REST proxy, S3 sink, emulator) for the docker runtime.
FROM python:3.11.14-slim-bookworm
WORKDIR /app
COPY pyproject.toml README.md ./
COPY services ./services
COPY seed_data ./seed_data
COPY spark ./spark
RUN pip install --no-cache-dir . && useradd --system --uid 10001 pipeline
USER pipeline

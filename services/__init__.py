"""The pipeline's Python services: settings, client factories, stack, ingestion, landing."""

"""The pipeline's Python services: settings, client factories, the local stack, ingestion and landing."""

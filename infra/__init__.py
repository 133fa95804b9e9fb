"""llm-fleet: GPU LLM serving on Kubernetes as one Pulumi program. Importing creates nothing."""

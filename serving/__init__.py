"""The serving image's package: a supervisor around the vLLM OpenAI-compatible server.

`python -m serving` runs it. Importing this package stays light (no fastapi/httpx/vllm), because
the Pulumi program imports `serving.kubernetes` for the pod contract.
"""

"""The package inside the gateway image: the routing table a stack declares (spec.py), rendered as LiteLLM's proxy
config (litellm_config.py), and the launcher that starts the proxy with the mounted keys."""

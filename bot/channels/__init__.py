"""Custom Rasa input channels (listed in ``credentials.yml`` by their module path)."""

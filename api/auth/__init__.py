"""API keys with scopes: hashed storage, look-up, FastAPI dependencies."""

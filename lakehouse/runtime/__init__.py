"""The local runtime: real services the project starts itself (no Docker needed)."""

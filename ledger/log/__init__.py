"""The transparency log: dense indices, the stored RFC 6962 tree, signed checkpoints."""

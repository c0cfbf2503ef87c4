"""Path following and low-level command shaping."""

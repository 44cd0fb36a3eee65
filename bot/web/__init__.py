"""HTTP on PORT: health and pushed-in metrics."""

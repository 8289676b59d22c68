"""HTTP routes, one module per resource: thin, calling the engine."""

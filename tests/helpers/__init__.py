"""Shared test helpers: data builders, the three (four) feed parsers, a real SMTP server, processes."""

"""Propose events and deadlines from minutes' text (pure: text in, proposals out); may import records, timeparse, config, errors."""

"""Imports every built-in backbone module so that each registers itself."""

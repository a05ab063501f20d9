"""Rasa SDK action server: thin actions over the tutor in ``bot``."""

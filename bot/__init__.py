"""Debate tutor engine: the essay as a knowledge base, its passage index, and the tutor."""

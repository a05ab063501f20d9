"""Judging students' arguments: the trained key point judge, its training, and the ArgKP metric."""

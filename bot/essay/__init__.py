"""The essay as a knowledge base: its text parsed into passages and footnotes, and the positions it answers."""

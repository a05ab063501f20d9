"""The teacher report of practice rounds: load the rounds, compute the statistics, render page and CSV."""

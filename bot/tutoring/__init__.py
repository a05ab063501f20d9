"""The tutor itself: answering a claim with the essay's focused passage, practice rounds and their feedback."""

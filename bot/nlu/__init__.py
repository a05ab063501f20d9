"""Custom Rasa NLU components: the sentence-embedding featurizer and the charge recogniser."""

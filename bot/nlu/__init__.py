"""Custom Rasa NLU components: the sentence-embedding featurizer, the linear intent classifier, the
counter-argument and stance readers and the charge recogniser."""

"""Custom Rasa NLU components: the sentence-embedding featurizer, the linear intent classifier, the
counter-argument reader and the charge recogniser."""

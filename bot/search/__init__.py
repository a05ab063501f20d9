"""Finding the essay passages that answer a message: sentence embeddings, the FAISS index, ranked retrieval."""

"""The Reference Footage library (LanceDB) and emotion-similarity retrieval."""

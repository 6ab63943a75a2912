"""The director: reads the scene, writes emotion guidance, consults the reference library, reviews takes."""

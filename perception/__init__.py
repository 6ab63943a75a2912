"""Media I/O and perception shared by every other room: video, faces and lips, expression, scene, audio,
speaker, text. One implementation, used by the director, the actor, the library and the corpus."""

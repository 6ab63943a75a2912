"""Ray actors, the Ray Serve deployment streaming audio over websockets, sessions, batch jobs and logs."""

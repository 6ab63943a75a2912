"""The dubbing stage: perception, the director and the actor put together for one line at a time, with the
review loop; and a line written out as files. The server, the batch job and ``dubber dub`` all use it."""

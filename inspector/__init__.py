"""The message-log inspector: a browser view of how the director and the actor worked each line.

Served by the dubbing app at ``/logs`` and, offline, by ``dubber logs serve DIR``. It reads the msgpack logs
themselves (``ground.message_log`` session logs, ``dubber dub --log`` plain logs, batch jobs' line logs) and
nothing else: no database, the logs are the truth. Split like an API server's endpoint package:

    protocol.py  the pydantic response models of ``/logs/api/...``
    store.py     which logs a folder holds, each read up to any damage, grouped by line and take; a take's
                 audio assembled from its PCM chunks; its F0 and energy (``perception.audio.prosody``)
    router.py    the FastAPI ``APIRouter`` (page, JSON API, wav, live follow by Server-Sent Events)
    app.py       the stand-alone app of ``dubber logs serve`` (uvicorn, no Ray)
    static/      one HTML page, one script, one stylesheet (no build step, no CDN)
"""

"""Serving a live run to viewers in other processes, and opening finished runs.

A run serves its events on a private Unix socket (and, on request, over TCP with a shared key);
``gantui attach`` connects a dashboard to it through :class:`~gantui.remote.client.RemoteController`,
a second implementation of the UI's ``Controller``. The messages are the ones ``gantui.protocol``
defines, carried by :mod:`gantui.remote.codec` (msgpack via msgspec, versioned, validated, never
pickled).

Layout (one job per module): ``messages`` (the control messages beyond the protocol), ``codec``
(frames), ``paths`` (the private runtime directory, addresses), ``auth`` (peer credentials and the
TCP key's challenge-response), ``rowstore`` and ``runlog`` (a run's history on disk), ``memory``
(what a late viewer is sent), ``outbox`` (one viewer's bounded queue), ``viewer`` (one connection),
``server`` and ``served`` (inside the training process), ``registry`` (which runs are live),
``client`` and ``filecontroller`` (the UI side), ``cli`` (``gantui attach | ls | stop | view``).

Nothing here imports torch, and only ``cli`` imports Textual (lazily): the UI process uses the client.
"""

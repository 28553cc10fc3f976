"""Data-parallel training: one GAN on several processes (torch.distributed), steered from rank 0.

Every rank holds the same G and D and trains on its own share of the global batch; rank 0 alone runs
the :class:`~gantui.engine.runner.Runner` (commands, run folder, display, probe) and tells the others,
before every step they take together, what it is and with which settings. Rank logic lives here only;
the trainer and the runner call ``trainer.ranks`` (None in a single process) at a few marked places.

One job per module:

- ``group``: who this process is (the launcher's environment) and the process groups (``join``);
- ``seeds``: each rank's share of the batch and its own random streams;
- ``sync``: averaged gradients, the global batch's std for DRAGAN, shared BatchNorm, fingerprints;
- ``control``: rank 0's per-step message and the bytes some messages carry;
- ``team``: what every rank shares (the trainer's hooks, steps, a lost rank);
- ``leader``: rank 0's side (announcing steps, the runner's hooks);
- ``follower``: the other ranks' loop;
- ``startup``: building every rank's run from rank 0's;
- ``resume``: what a checkpoint says about the ranks that saved it (no torch.distributed import).

Importing this package imports nothing: ``gantui.cli`` reads ``group.launched()`` before torch.
"""

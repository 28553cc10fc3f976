"""Everything that trains, measures and is steered: PyTorch, data, losses, the trainer, its thread.

Nothing here imports Textual or Rich. Import submodules directly (``gantui.engine.losses``); this
package's ``__init__`` stays empty so that importing it costs nothing.
"""

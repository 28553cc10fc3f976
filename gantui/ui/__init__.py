"""The Textual dashboard. Nothing here imports torch: it sees only ``gantui.protocol`` data."""

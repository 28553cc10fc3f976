"""Modal screens: help, loss picker, preset name, confirmation."""

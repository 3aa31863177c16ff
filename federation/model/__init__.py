"""Domain model: frozen dataclasses shared by the core and the edges."""

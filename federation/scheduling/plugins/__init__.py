"""Scheduler plugins, one per file; registered in ``federation.scheduling.registry``."""

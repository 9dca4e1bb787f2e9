"""Celery workers: batch transcription, post-call analysis and exactly-once CRM write-back.

Tasks are thin: ids in, the domain functions in ``plugin.pipeline`` do the work.
"""

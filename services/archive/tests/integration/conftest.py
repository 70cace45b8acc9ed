from services.archive.tests.integration.served import archive_events, served_archive

__all__ = ["archive_events", "served_archive"]

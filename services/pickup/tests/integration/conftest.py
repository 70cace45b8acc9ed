from services.pickup.tests.integration.recipients import pickup, probe, site

__all__ = ["pickup", "probe", "site"]

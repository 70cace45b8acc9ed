"""Code every LRE service imports: message contracts, bus topology, reliable messaging
(outbox, inbox, dead-lettering), settings, logging, health and migrations.

Nothing here runs on its own and nothing here imports a service.
"""

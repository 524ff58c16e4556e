"""Triggers: cron schedules, webhooks, git refs, workflow chains and alerts start runs.

`TriggerService` (service.py) runs them all; it never imports Textual, and the aiohttp
server is imported only when a webhook port is given.
"""

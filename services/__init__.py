"""Application services: every operation that crosses rooms, as one call.

A service checks the caller's right, makes the change and emits its events (the audit row,
any webhook execution and job) in one transaction through `core.events.emit`; a refused or
failed attempt records its failed event instead. Entry points (web handlers, pipelines)
parse what the caller sent, call one service and render its answer.
"""

"""Webhook delivery (job kind "webhook"); core/events.py writes the events it delivers.

A delivery POSTs the event to every target of its policy, signed with the policy's secret.
A non-2xx answer or a connection error fails the attempt, so the job queue retries it with
backoff; the execution row records each attempt and, after the last, the failure.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from core import webhooks
from core.jobs import ClaimedJob
from pipelines import PipelineContext, pipeline

TIMEOUT_SECONDS = 10.0
CONTENT_TYPES = {"Default": "application/json", "CloudEvents": "application/cloudevents+json"}


class DeliveryFailed(Exception):
    """A target did not take the event; the job is retried."""


@pipeline("webhook")
async def deliver(job: ClaimedJob, context: PipelineContext) -> None:
    """Send one execution's event; record the attempt on the execution row."""
    delivery = await webhooks.delivery(int(job.args["execution_id"]))
    if delivery is None:
        return  # the policy or the execution was deleted meanwhile: nothing to send
    code, error = None, None
    lines = []
    for target in delivery.targets:
        code, error = await _post(delivery, target)
        lines.append(_log_line(job.attempt, target, code, error))
        if error is not None:
            break
    if error is None:
        await webhooks.record_attempt(
            delivery.execution_id, job.attempt, "success", code, "", lines
        )
        return
    last = await webhooks.is_last_attempt(job.id, job.attempt)
    status = "failed" if last else "pending"
    if not last:
        lines.append(f"{_stamp()} attempt {job.attempt} failed: it will be retried")
    else:
        lines.append(f"{_stamp()} attempt {job.attempt} failed: no attempt is left")
    await webhooks.record_attempt(delivery.execution_id, job.attempt, status, code, error, lines)
    raise DeliveryFailed(error)


def _log_line(attempt: int, target: dict[str, object], code: int | None, error: str | None) -> str:
    """One target's outcome in the delivery's log: when, where, what it answered."""
    outcome = f"answered {code}" if code is not None else f"failed: {error}"
    if code is not None and error is None:
        outcome += " (delivered)"
    return f"{_stamp()} attempt {attempt}: POST {target.get('address')} {outcome}"


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def _post(
    delivery: webhooks.Delivery, target: dict[str, object]
) -> tuple[int | None, str | None]:
    """(status code, error or None) of one POST to one target."""
    payload_format = str(target.get("payload_format") or "Default")
    body = webhooks.render_body(delivery, payload_format)
    headers = {
        "Content-Type": CONTENT_TYPES.get(payload_format, "application/json"),
        webhooks.SIGNATURE_HEADER: webhooks.signature(delivery.secret, body),
    }
    if target.get("auth_header"):
        headers["Authorization"] = str(target["auth_header"])
    verify = not bool(target.get("skip_cert_verify"))
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS, verify=verify) as client:
            response = await client.post(str(target["address"]), content=body, headers=headers)
    except httpx.HTTPError as exc:
        return None, f"{target['address']}: {type(exc).__name__}: {exc}"
    if not 200 <= response.status_code < 300:
        return response.status_code, f"{target['address']} answered {response.status_code}"
    return response.status_code, None

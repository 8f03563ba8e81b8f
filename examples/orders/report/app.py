"""Nightly order report.

Kept on the Python zip runtime: it has no Go code to share with the rest of
the service, and its only dependency (boto3) ships with the runtime.
"""

import json
import os
from collections import Counter

import boto3

_table = None


def _orders_table():
    # Created lazily so that importing the module (e.g. in tests) needs no
    # AWS credentials, and reused across warm invocations.
    global _table
    if _table is None:
        _table = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])
    return _table


def summarize(orders):
    """Count orders and sum totals per status."""
    counts = Counter()
    totals = Counter()
    for order in orders:
        status = order.get("status", "unknown")
        counts[status] += 1
        totals[status] += int(order.get("total_cents", 0))
    return {
        "orders": sum(counts.values()),
        "by_status": {
            status: {"count": counts[status], "total_cents": totals[status]}
            for status in sorted(counts)
        },
    }


def handler(event, context):
    table = _orders_table()
    items = []
    kwargs = {"ProjectionExpression": "#s, total_cents", "ExpressionAttributeNames": {"#s": "status"}}
    while True:
        page = table.scan(**kwargs)
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    report = summarize(items)
    print(json.dumps({"stage": os.environ.get("STAGE"), **report}))
    return report

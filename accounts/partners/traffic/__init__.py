"""Partner traffic: per-request samples rolled up per key × stage × method × minute, and per hour.

Two sources feed one aggregation (`aggregation.minute_figures`): the local enforcement's samples
(recorded per request, flushed in batches) and API Gateway's access logs read with CloudWatch Logs
Insights (`accounts.partners.gateway.logs_insights`).
"""

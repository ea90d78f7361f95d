"""Change requests: a market's approval policy, and changes that wait for approval before they apply.

See docs/change-requests.md and docs/adr/ for the design.
"""

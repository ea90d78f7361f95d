"""Single sign-on with the company's OpenID Connect provider (docs/sso.md, ADR 009).

Users are created or updated just in time from the ID token (issuer + `sub` as the key), their
SSO memberships follow the provider's groups through admin-editable group mappings, and
sensitive actions ask for a recent login.
"""

"""The hub's abuse desk: network owners (RDAP), a per-network scoreboard, X-ARF reports sent by SMTP
only after an admin approves them (docs/hub.md, "Abuse desk").

Modules: `settings` (`[hub.abuse]`), `scoreboard` and `xarf` (pure), `reports` (the store),
`mailer` (SMTP), `desk` (ties them together), `api` (`/v1/abuse/...`).
"""

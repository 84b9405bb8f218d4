"""Presentation: every step's Markdown summary (`reports/<step>.py`, prose in
`templates/summaries/`), its HTML page where it has one, and the escaping they share (`markdown`,
`html`). Commands render and write these; steps return results and write no report."""

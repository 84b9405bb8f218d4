"""Report rendering shared by the steps: Markdown for summaries, PR comments and issues."""

"""Invitations to register from a 団体's roster: `import-roster`, a resident's inbox of them, accepting."""

"""Cross-domain use cases: the one place where several domains meet, in an order you can read.

The layer sits between the interfaces (each domain's api.py and cli.py, registry/pages/) and the
domains: an interface calls a workflow when a request spans domains (erasure, sign-up with the
address check, a link that sets a password and accepts a roster invitation, a profile change that
moves a person's registrations), and a page whose data comes from several domains gets it from one
workflow function returning what its template needs (resident_page, staff_page, host_pages,
need_pages). A workflow calls the domains' services in order; no domain imports a workflow. Like
the services, workflows flush and never commit: the request (or command) commits.
docs/architecture.md draws the layers.
"""

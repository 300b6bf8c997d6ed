"""Server-rendered, mobile-first pages over the same service layer as the API."""

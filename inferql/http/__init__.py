"""GraphQL over HTTP and websockets: the view that serves the schema, content
negotiation, the one mapping from error codes to HTTP statuses, and CORS."""

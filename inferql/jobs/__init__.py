"""Jobs: the record, the service that submits and watches them, and the worker
that drains the queue into batched model calls. Imports nothing of strawberry."""

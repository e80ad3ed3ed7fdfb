"""The HTTP API (FastAPI): routes per resource, schemas, dependencies and error mapping.

Routes validate, authorize and hand over: heavy work goes to the workers through the queue; the
API itself only does light, synchronous work (probing an upload, building a feed)."""

"""`tracetui serve`: an OTLP/HTTP receiver that writes spans into a tracetui store as they arrive.

decode.py      request bodies (protobuf or JSON, gzip) to spans staged by the OTLP reader's mapping
runs.py        a trace's staged spans to its run's rows
workers.py     the worker processes that decode bodies and write them into the store, off the event loop
span_store.py  SpanStore (received spans and the runs they make), SpanWriter, the Checkpointer thread
server.py      the aiohttp application: POST /v1/traces, answered as the OTLP/HTTP spec says
service.py     the three started and stopped together; headless or as the viewer's live source
"""
